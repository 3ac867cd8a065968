"""Errors raised by the SIP core."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotline.sip.headers import Headers


class SipError(Exception):
    """Base class of all SIP core errors."""


class SipParseError(SipError):
    """A message (or part of it) could not be parsed.

    ``status``/``reason`` are the response to send back if ``answerable`` is true.
    ``answerable`` is only true for requests whose Via, From, To, Call-ID and CSeq
    could be parsed, i.e. when a response can be built; otherwise the message must
    be silently dropped (always the case for responses).  ``headers`` holds the
    headers parsed so far and ``method`` the request method (when known), so that
    :func:`hotline.sip.message.error_response` can build the reply.
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        answerable: bool = False,
        headers: Headers | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.answerable = answerable
        self.headers = headers
        self.method = method
