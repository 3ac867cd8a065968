"""SIP message model, parser and serializer (RFC 3261 §7, §18.3, §20, §25).

``parse_message(data)`` parses one datagram (UDP semantics: body is the rest of the
datagram, truncated to Content-Length).  :class:`StreamFramer` splits a TCP byte
stream into messages by Content-Length; feed each one to
``parse_message(raw, stream=True)``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from hotline.sip.errors import SipParseError
from hotline.sip.headers import (
    SINGLE_VALUE,
    CSeq,
    Headers,
    NameAddr,
    Via,
    canonical_name,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from hotline.sip.helpers import generate_branch, generate_tag
from hotline.sip.uri import URI, AbsoluteURI, SipURI, parse_uri

DEFAULT_MAX_SIZE = 65535
DEFAULT_MAX_BODY = 65535
SUPPORTED_SCHEMES = frozenset({"sip", "sips", "tel"})

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 580: "Precondition Failure", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip

_VERSION_RE = re.compile(r"^SIP/([0-9]+)\.([0-9]+)$", re.IGNORECASE)
_DATE_RE = re.compile(r"^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$")
_UINT32 = 2**32


class Message:
    """Common part of :class:`Request` and :class:`Response`."""

    headers: Headers
    body: bytes

    # -- structured accessors (parse on access; raise SipParseError if malformed) --
    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("Missing Via header")
        return parse_via(values[0])

    def _addr(self, name: str) -> NameAddr:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"Missing {name} header")
        return parse_name_addr(value)

    @property
    def from_addr(self) -> NameAddr:
        return self._addr("From")

    @from_addr.setter
    def from_addr(self, value: NameAddr) -> None:
        self.headers.set("From", str(value))

    @property
    def to_addr(self) -> NameAddr:
        return self._addr("To")

    @to_addr.setter
    def to_addr(self, value: NameAddr) -> None:
        self.headers.set("To", str(value))

    @property
    def from_tag(self) -> str | None:
        return self.from_addr.tag

    @property
    def to_tag(self) -> str | None:
        return self.to_addr.tag

    @property
    def call_id(self) -> str:
        value = self.headers.get("Call-ID")
        if not value or not value.strip():
            raise SipParseError("Missing Call-ID header")
        return value.strip()

    @property
    def cseq(self) -> CSeq:
        value = self.headers.get("CSeq")
        if value is None:
            raise SipParseError("Missing CSeq header")
        return parse_cseq(value)

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or len(value) > 6 or int(value) > 255:
            raise SipParseError("Malformed Max-Forwards")
        return int(value)

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; a ``*`` Contact is returned as an empty list (see :attr:`contact_star`)."""
        values = self.headers.get_all("Contact")
        if values == ["*"]:
            return []
        return [parse_name_addr(v) for v in values]

    @property
    def contact_star(self) -> bool:
        return self.headers.get_all("Contact") == ["*"]

    @property
    def record_route(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.headers.get_all("Record-Route")]

    @property
    def route(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.headers.get_all("Route")]

    @property
    def content_type(self) -> str | None:
        """Lower-cased ``type/subtype`` without parameters."""
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    @property
    def expires(self) -> int | None:
        value = self.headers.get("Expires")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or int(value) >= _UINT32:
            raise SipParseError("Malformed Expires")
        return int(value)

    def _start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is always (re)written to match the body."""
        lines = [self._start_line()]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", errors="surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass(eq=False)
class Request(Message):
    method: str
    uri: URI
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    @property
    def sip_uri(self) -> SipURI:
        if not isinstance(self.uri, SipURI):
            raise SipParseError(f"Not a SIP URI: {self.uri}")
        return self.uri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Request) and (
            self.method,
            str(self.uri),
            self.version,
            self.headers,
            self.body,
        ) == (other.method, str(other.uri), other.version, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class Response(Message):
    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def provisional(self) -> bool:
        return 100 <= self.status < 200

    @property
    def final(self) -> bool:
        return self.status >= 200

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Response) and (
            self.status,
            self.reason,
            self.version,
            self.headers,
            self.body,
        ) == (other.status, other.reason, other.version, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]


SipMessage = Request | Response


def _find_header_end(data: bytes) -> tuple[int, int]:
    """Return (end of header section, start of body); (-1, -1) if not found."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    if lf >= 0:
        return lf, lf + 2
    return -1, -1


_LINE_SPLIT = re.compile(r"\r?\n")
_HEADER_NAME_RE = re.compile(r"^([^:\s]+)[ \t]*:(.*)$", re.DOTALL)


def _unfold(head: str) -> list[str]:
    lines: list[str] = []
    for line in _LINE_SPLIT.split(head):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] = lines[-1].rstrip(" \t") + " " + line.lstrip(" \t")
        else:
            lines.append(line)
    return lines


def _answerable(headers: Headers) -> bool:
    """A request can be answered when its top Via parses (the response is routed by it)."""
    try:
        vias = headers.get_all("Via")
        if not vias:
            return False
        parse_via(vias[0])
    except SipParseError:
        return False
    return True


def _check_version(version: str, is_request: bool) -> None:
    m = _VERSION_RE.match(version)
    if not m:
        raise SipParseError(f"Malformed SIP version {version!r}")
    if (int(m.group(1)), int(m.group(2))) != (2, 0):
        raise SipParseError(f"SIP version {version} not supported", 505)


def _validate_common(msg: Message) -> None:
    h = msg.headers
    for name in sorted(SINGLE_VALUE):
        if len(h.get_lines(name)) > 1:
            raise SipParseError(f"Multiple {canonical_name(name)} header fields")
    if not h.get_all("Via"):
        raise SipParseError("Missing Via header")
    msg.vias  # noqa: B018 - validates every Via value
    for name in ("From", "To"):
        if h.get(name) is None:
            raise SipParseError(f"Missing {name} header")
    for addr, name in ((msg.from_addr, "From"), (msg.to_addr, "To")):
        if "tag" in addr.params and not addr.params["tag"]:
            raise SipParseError(f"Empty tag in {name}")
    msg.call_id  # noqa: B018
    msg.cseq  # noqa: B018
    msg.max_forwards  # noqa: B018
    msg.expires  # noqa: B018
    date = h.get("Date")
    if date is not None and not _DATE_RE.match(date.strip()):
        raise SipParseError("Malformed Date header (must be RFC 1123 in GMT)")
    retry_after = h.get("Retry-After")
    if retry_after is not None:
        m = re.match(r"^[ \t]*([0-9]+)", retry_after)
        if not m or len(m.group(1)) > 10 or int(m.group(1)) >= _UINT32:
            raise SipParseError("Malformed Retry-After")
    for warning in h.get_all("Warning"):
        if not re.match(r"^[0-9]{3} ", warning):
            raise SipParseError("Malformed Warning")
    for contact in msg.contacts:
        exp = contact.params.get("expires")
        if exp is not None and (not exp.isdigit() or int(exp) >= _UINT32):
            raise SipParseError("Malformed Contact expires parameter")
        q = contact.params.get("q")
        if q is not None and not re.match(r"^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$", q):
            raise SipParseError("Malformed Contact q parameter")


def parse_message(
    data: bytes,
    *,
    stream: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
    max_body: int = DEFAULT_MAX_BODY,
) -> Request | Response:
    """Parse one SIP message.

    ``stream=False`` (UDP): the body is the rest of the datagram, truncated to
    Content-Length; a Content-Length larger than the remaining bytes is an error.
    ``stream=True`` (TCP): Content-Length is mandatory and must match exactly.
    Raises :class:`SipParseError` (and only that) on any malformed input.
    """
    try:
        return _parse(data, stream, max_size, max_body)
    except SipParseError:
        raise
    except (ValueError, IndexError, UnicodeError, AssertionError) as exc:  # defensive
        raise SipParseError(f"Malformed message ({type(exc).__name__})") from None


def _parse(data: bytes, stream: bool, max_size: int, max_body: int) -> Request | Response:
    stripped = data.lstrip(b"\r\n")
    if not stripped:
        raise SipParseError("Empty message")
    end, body_start = _find_header_end(stripped)
    if end < 0:
        if stream:
            raise SipParseError("Incomplete message (no end of headers)")
        head_b, rest = stripped, b""
    else:
        head_b, rest = stripped[:end], stripped[body_start:]
    head = head_b.decode("utf-8", errors="surrogateescape")
    lines = _unfold(head)
    start = lines[0]
    is_request = not start.upper().startswith("SIP/")
    headers = Headers()
    method: str | None = None
    try:
        for line in lines[1:]:
            if not line:
                continue
            m = _HEADER_NAME_RE.match(line)
            if not m or not is_token(m.group(1)):
                raise SipParseError(f"Malformed header line {line[:40]!r}")
            headers.add(m.group(1), m.group(2).strip(" \t"))
        msg: Request | Response
        if is_request:
            parts = start.split(" ")
            if len(parts) != 3 or not all(parts):
                raise SipParseError("Malformed Request-Line")
            method, uri_text, version = parts
            if not is_token(method):
                raise SipParseError(f"Invalid method {method!r}")
            _check_version(version, True)
            try:
                uri = parse_uri(uri_text)
            except SipParseError as exc:
                raise SipParseError(f"Malformed Request-URI: {exc.reason}") from None
            if uri.scheme not in SUPPORTED_SCHEMES:
                raise SipParseError("Unsupported URI Scheme", 416)
            if isinstance(uri, SipURI) and uri.headers:
                raise SipParseError("Headers not allowed in Request-URI")
            msg = Request(method, uri, headers, b"", "SIP/2.0")
        else:
            parts = start.split(" ", 2)
            if len(parts) < 2:
                raise SipParseError("Malformed Status-Line")
            version, code = parts[0], parts[1]
            reason = parts[2] if len(parts) > 2 else ""
            _check_version(version, False)
            if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
                raise SipParseError(f"Invalid status code {code[:12]!r}")
            msg = Response(int(code), reason, headers, b"", "SIP/2.0")
        _validate_common(msg)
        if isinstance(msg, Request) and msg.cseq.method != msg.method:
            raise SipParseError("CSeq method does not match Request-Line method")
        cl_value = headers.get("Content-Length")
        if cl_value is None:
            if stream:
                raise SipParseError("Missing Content-Length on stream transport")
            body = rest
        else:
            cl_value = cl_value.strip()
            if not cl_value.isdigit() or len(cl_value) > 10:
                raise SipParseError("Malformed Content-Length")
            length = int(cl_value)
            if length > len(rest):
                raise SipParseError("Content-Length larger than message body")
            if stream and length != len(rest):
                raise SipParseError("Content-Length does not match message body")
            body = rest[:length]
        if len(body) > max_body:
            raise SipParseError("Request Entity Too Large", 413)
        if len(head_b) + len(body) > max_size:
            raise SipParseError("Message Too Large", 513)
        msg.body = body
        return msg
    except SipParseError as exc:
        exc.headers = headers
        exc.method = method
        exc.answerable = is_request and method is not None and method != "ACK" and _answerable(headers)
        if is_request and method is None:
            # malformed Request-Line: still answerable if the headers allow it
            exc.answerable = _answerable(headers) and not start.startswith("ACK ")
        raise


def make_request(
    method: str,
    uri: URI | str,
    *,
    from_addr: NameAddr | str,
    to_addr: NameAddr | str,
    call_id: str,
    cseq: int,
    via_host: str,
    via_port: int | None = None,
    transport: str = "UDP",
    contact: NameAddr | str | None = None,
    branch: str | None = None,
    max_forwards: int = 70,
    body: bytes = b"",
    content_type: str | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
    rng: random.Random | None = None,
) -> Request:
    """Build an out-of-dialog request (INVITE to a trunk, OPTIONS ping, REGISTER, ...).

    The top Via gets a fresh RFC 3261 branch (unless ``branch`` is given) and ``rport``.
    ``from_addr`` should carry a tag (use :func:`hotline.sip.helpers.generate_tag`).
    """
    h = Headers()
    via = Via(
        transport.upper(), via_host, via_port, {"branch": branch or generate_branch(rng), "rport": None}
    )
    h.add("Via", str(via))
    h.add("Max-Forwards", str(max_forwards))
    h.add("From", str(from_addr))
    h.add("To", str(to_addr))
    h.add("Call-ID", call_id)
    h.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        h.add("Contact", str(contact))
    for name, value in extra_headers or []:
        h.add(name, value)
    if content_type is not None:
        h.add("Content-Type", content_type)
    return Request(method, parse_uri(uri) if isinstance(uri, str) else uri, h, body)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    rng: random.Random | None = None,
) -> Response:
    """Build a response to ``request`` (RFC 3261 §8.2.6).

    Copies Via (all, in order), From, To, Call-ID, CSeq (and Timestamp for 100).  For
    status > 100 a To-tag is added if the request had none: ``to_tag`` if given, else a
    freshly generated one.
    """
    return _make_response(request.headers, status, reason, to_tag=to_tag, rng=rng)


def _make_response(
    req_headers: Headers,
    status: int,
    reason: str | None,
    *,
    to_tag: str | None,
    rng: random.Random | None,
) -> Response:
    headers = Headers()
    for value in req_headers.get_lines("Via"):
        headers.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        hv = req_headers.get(name)
        if hv is not None:
            headers.add(name, hv)
    if status == 100:
        ts = req_headers.get("Timestamp")
        if ts is not None:
            headers.add("Timestamp", ts)
    to_value = req_headers.get("To")
    if status > 100 and to_value is not None:
        try:
            to = parse_name_addr(to_value)
        except SipParseError:
            to = None  # malformed To (error response): copied unchanged
        if to is not None and to.tag is None:
            to.tag = to_tag if to_tag is not None else generate_tag(rng)
            headers.set("To", str(to))
    return Response(status, reason if reason is not None else REASON_PHRASES.get(status, ""), headers)


def error_response(err: SipParseError, rng: random.Random | None = None) -> Response | None:
    """The response to send for a parse error, or ``None`` if the message must be dropped."""
    if not err.answerable or err.headers is None:
        return None
    return _make_response(err.headers, err.status, err.reason, to_tag=None, rng=rng)


def stamp_via(request: Request, source_host: str, source_port: int) -> None:
    """Server transport duty on receipt (RFC 3261 §18.2.1, RFC 3581).

    Adds ``received=`` to the top Via when its sent-by host differs from the packet's
    source address (always when ``rport`` was requested) and fills in a valueless
    ``rport`` with the source port.
    """
    via = request.top_via
    host = source_host.strip("[]")
    wants_rport = via.has_rport and via.rport is None
    if via.host.strip("[]").lower() != host.lower() or wants_rport:
        via.params["received"] = host
    if wants_rport:
        via.params["rport"] = str(source_port)
    request.headers.remove_first_value("Via")
    request.headers.prepend("Via", str(via))


def response_destination(response: Response) -> tuple[str, int]:
    """Where to send a response over an unreliable transport (RFC 3261 §18.2.2, RFC 3581).

    ``received`` (else the sent-by host) and ``rport`` (else the sent-by port, else
    5060/5061) of the top Via.  Over TCP/TLS send on the connection the request came in.
    """
    via = response.top_via
    host = (via.received or via.host).strip("[]")
    default = 5061 if via.transport in ("TLS", "WSS") else 5060
    port = via.rport or via.port or default
    return host, port


class StreamFramer:
    """Split a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3).

    ``feed(data)`` returns the complete messages (as bytes, each including its body)
    found so far.  A CRLF keep-alive ping (RFC 5626 ``\\r\\n\\r\\n`` between messages) is
    returned as the item ``KEEPALIVE_PING`` (answer it with ``b"\\r\\n"``).  Missing or
    invalid Content-Length, or a header section above ``max_size``, raise
    :class:`SipParseError`; the framer is then broken (further ``feed`` raises too) and
    the connection should be closed (after answering the error if ``answerable``).
    """

    KEEPALIVE_PING = b"\r\n\r\n"

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._error: SipParseError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list[bytes] = []
        while True:
            # keep-alives / stray CRLFs between messages
            if self._buf.startswith(b"\r\n\r\n"):
                del self._buf[:4]
                out.append(self.KEEPALIVE_PING)
                continue
            if self._buf.startswith(b"\r\n"):
                if len(self._buf) < 4 and b"\r\n\r\n".startswith(bytes(self._buf)):
                    break
                del self._buf[:2]
                continue
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self.max_size:
                    self._fail(SipParseError("Message Too Large", 513))
                break
            head = bytes(self._buf[:end])
            length = self._content_length(head)
            total = end + 4 + length
            if total > self.max_size:
                self._fail(SipParseError("Message Too Large", 513))
            if len(self._buf) < total:
                break
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return out

    def _fail(self, err: SipParseError) -> None:
        self._error = err
        raise err

    def _content_length(self, head: bytes) -> int:
        values: list[str] = []
        text = head.decode("utf-8", errors="surrogateescape")
        for line in _unfold(text)[1:]:
            m = _HEADER_NAME_RE.match(line)
            if m and m.group(1).lower() in ("content-length", "l"):
                values.append(m.group(2).strip())
        if not values:
            err = self._framing_error("Missing Content-Length on stream transport", head)
            self._fail(err)
        if len(set(values)) > 1 or not values[0].isdigit() or len(values[0]) > 10:
            self._fail(self._framing_error("Malformed Content-Length", head))
        return int(values[0])

    @staticmethod
    def _framing_error(reason: str, head: bytes) -> SipParseError:
        try:
            probe = parse_message(head + b"\r\n\r\n")
        except SipParseError as exc:
            return SipParseError(
                reason, 400, answerable=exc.answerable, headers=exc.headers, method=exc.method
            )
        method = probe.method if isinstance(probe, Request) else None
        answerable = method is not None and method != "ACK"
        return SipParseError(reason, 400, answerable=answerable, headers=probe.headers, method=method)


__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_SIZE",
    "REASON_PHRASES",
    "AbsoluteURI",
    "Message",
    "Request",
    "Response",
    "SipMessage",
    "StreamFramer",
    "error_response",
    "make_request",
    "make_response",
    "parse_message",
    "response_destination",
    "stamp_via",
]
