"""A small client of Hotline's own REST API for CLI commands that act on a running server
(agent sessions live in the server's memory, flows are cached there). Standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from hotline.errors import HotlineError


class ApiError(HotlineError):
    """The server answered with an RFC 7807 problem (or could not be reached)."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail, field=field)
        self.status = status


@dataclass
class ApiClient:
    base_url: str
    token: str | None = None
    timeout: float = 15.0

    @classmethod
    def login(cls, base_url: str, username: str, password: str, tenant: str | None = None) -> ApiClient:
        client = cls(base_url.rstrip("/"))
        body: dict[str, Any] = {"username": username, "password": password}
        if tenant:
            body["tenant"] = tenant
        client.token = client.request("POST", "/api/v1/auth/token", body)["access_token"]
        return client

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> Any:
        data: bytes | None = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise ApiError(0, f"server URL must start with http:// or https://: {self.base_url!r}")
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - checked above
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - checked above
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read() or b"{}")
            except ValueError:
                problem = {}
            errors = problem.get("errors") or [{}]
            raise ApiError(exc.code, problem.get("detail") or exc.reason, errors[0].get("field")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}") from None
        return json.loads(raw) if raw else None
