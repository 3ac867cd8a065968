"""RFC 7807 problem documents for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.errors import HotlineError

log = logging.getLogger("hotline.web")
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(HotlineError)
    async def _domain(_request: Request, exc: HotlineError) -> JSONResponse:
        errors = getattr(exc, "errors", None) or (
            [{"field": exc.field, "reason": exc.detail}] if exc.field else None
        )
        # an error may carry more members for the client (e.g. a refused work-order action:
        # its state and the allowed actions; a stale version: the current one)
        extra = getattr(exc, "problem_extra", None) or {}
        return problem(exc.status, exc.title, exc.detail, errors=errors, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            reason = str(err.get("msg", "invalid"))
            field = _field(err.get("loc", ()))
            if err.get("type") == "json_invalid":
                loc = err.get("loc", ())
                pos = f" at character {loc[1]}" if len(loc) > 1 else ""
                reason = f"malformed JSON{pos}: {err.get('ctx', {}).get('error', 'cannot parse')}"
                field = "body"
            errors.append({"field": field, "reason": reason})
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return problem(422, "Invalid input", f"{first['field']}: {first['reason']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not authenticated", 403: "Forbidden"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this answers the race where two requests pass the
        # check together and the database constraint refuses the second.
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem(409, "Conflict", "the change conflicts with data stored meanwhile; reload and retry")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the server failed to handle this request; it was logged")
