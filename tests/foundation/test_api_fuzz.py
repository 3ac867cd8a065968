"""Property-based fuzzing of the whole HTTP API from its OpenAPI document (schemathesis).

Every operation gets generated valid and invalid input; the server must never answer 5xx,
and must keep serving. Logging in and revoking are excluded so the fuzzer keeps its token.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from hotline.web.app import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

_STATE: dict[str, Any] = {}


def _app() -> Any:
    if "app" not in _STATE:
        import tempfile

        from hotline.seed import seed_demo
        from hotline.store import migrate
        from hotline.store.db import create_engine, session_factory, transaction

        tmp = Path(tempfile.mkdtemp(prefix="hotline-fuzz-"))
        db = tmp / "fuzz.db"

        async def build() -> None:
            eng = create_engine(f"sqlite+aiosqlite:///{db}")
            await migrate.upgrade(eng)
            async with transaction(session_factory(eng)) as s:
                await seed_demo(s)
            await eng.dispose()

        asyncio.run(build())
        app = create_app(make_settings(tmp, f"sqlite+aiosqlite:///{db}"))
        client = TestClient(app)
        client.__enter__()  # run the lifespan for the whole module
        r = client.post("/api/v1/auth/token", json={"username": "admin", "password": "Hotline-2026"})
        _STATE.update(app=app, client=client, tmp=tmp, token=r.json()["access_token"])
    return _STATE["app"]


schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _app()).exclude(
    path_regex="^/api/v1/auth/(token|me/password)$"
)


@pytest.fixture(scope="module", autouse=True)
def _teardown() -> Any:
    yield
    _STATE["client"].__exit__(None, None, None)
    shutil.rmtree(_STATE["tmp"], ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_on_any_input(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_STATE['token']}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
    if response.status_code >= 400:
        ctype = response.headers["content-type"]
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype == "application/problem+json", response.text
        assert response.json()["detail"]
