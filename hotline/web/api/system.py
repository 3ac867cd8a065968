"""Health and metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hotline import __version__
from hotline.web.context import StateDep

router = APIRouter(tags=["system"])


@router.get(
    "/api/v1/health",
    summary="Component health",
    responses={
        200: {
            "description": "Every component is up",
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "version": "0.1.0",
                        "components": {"database": {"status": "ok", "backend": "sqlite", "latency_ms": 0.4}},
                    }
                }
            },
        },
        503: {"description": "A component is down; its entry says why"},
    },
)
async def health(state: StateDep) -> JSONResponse:
    components: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    try:
        async with state.db() as s:
            await s.execute(text("SELECT 1"))
            backend = s.get_bind().dialect.name
        components["database"] = {
            "status": "ok",
            "backend": backend,
            "latency_ms": round((time.perf_counter() - start) * 1000, 2),
        }
    except Exception as exc:
        components["database"] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    if state.telephony is not None:
        components.update(state.telephony.health())
    ok = all(c["status"] == "ok" for c in components.values())
    body = {"status": "ok" if ok else "down", "version": __version__, "components": components}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    payload, content_type = state.metrics.render()
    return Response(payload, media_type=content_type)
