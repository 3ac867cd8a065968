"""Domain errors shared by the service layer, the HTTP API (RFC 7807) and the CLI (exit codes)."""

from __future__ import annotations


class HotlineError(Exception):
    """Base of all expected, user-facing errors. ``field`` names the offending input, if any."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class Invalid(HotlineError):
    status = 422
    title = "Invalid input"


class NotFound(HotlineError):
    status = 404
    title = "Not found"


class Conflict(HotlineError):
    status = 409
    title = "Conflict"


class Unauthorized(HotlineError):
    status = 401
    title = "Not authenticated"


class Forbidden(HotlineError):
    status = 403
    title = "Forbidden"


class Locked(HotlineError):
    status = 423
    title = "Account locked"
