"""Header container and structured header values (RFC 3261 §7.3, §20, §25)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hotline.sip.errors import SipParseError
from hotline.sip.uri import URI, SipURI, format_host, parse_uri, split_hostport

TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_PARAM_VALUE_CHARS = TOKEN_CHARS | frozenset(":[]")
_WS = " \t"
BRANCH_MAGIC_COOKIE = "z9hG4bK"

#: compact form -> canonical long form (RFC 3261 §7.3.3 and later RFCs)
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_CANONICAL = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
    "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity", "Identity-Info",
    "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires", "Min-SE", "Organization", "Path",
    "P-Asserted-Identity", "P-Preferred-Identity", "Priority", "Privacy", "Proxy-Authenticate",
    "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To",
    "Referred-By", "Reject-Contact", "Replaces", "Reply-To", "Request-Disposition", "Require",
    "Retry-After", "Route", "RSeq", "Server", "Service-Route", "Session-Expires", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate",
]  # fmt: skip
_CANONICAL_MAP = {name.lower(): name for name in _CANONICAL}

#: headers whose values may be combined with commas (RFC 3261 §7.3.1)
MULTI_VALUE = frozenset(
    name.lower()
    for name in [
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info", "In-Reply-To",
        "Path", "P-Asserted-Identity", "Proxy-Require", "Record-Route", "Require", "Route",
        "Service-Route", "Supported", "Unsupported", "Via", "Warning", "Accept-Contact",
        "Reject-Contact", "Request-Disposition", "Privacy",
    ]
)  # fmt: skip

#: headers that must appear at most once
SINGLE_VALUE = frozenset(
    ["call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"]
)


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name (expands compact forms)."""
    low = name.lower()
    if len(low) == 1 and low in COMPACT_FORMS:
        return COMPACT_FORMS[low]
    return _CANONICAL_MAP.get(low, name)


def is_token(text: str) -> bool:
    return bool(text) and all(c in TOKEN_CHARS for c in text)


def split_commas(value: str) -> list[str]:
    """Split a header value on top-level commas (outside quoted strings and ``<>``).

    Empty elements are dropped; each element is stripped.
    """
    if "," not in value and '"' not in value:  # fast path: a single element
        single = value.strip()
        return [single] if single else []
    items: list[str] = []
    buf: list[str] = []
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            buf.append(ch)
            if ch == "\\" and i + 1 < n:
                buf.append(value[i + 1])
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
            buf.append(ch)
        elif ch == "<":
            in_angle = True
            buf.append(ch)
        elif ch == ">":
            in_angle = False
            buf.append(ch)
        elif ch == "," and not in_angle:
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    if in_quote:
        raise SipParseError("Unterminated quoted string")
    items.append("".join(buf).strip())
    return [item for item in items if item]


def quote(text: str) -> str:
    """Render ``text`` as a quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[pos] == '"'``; returns (content, end index)."""
    assert text[pos] == '"'
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n or text[i + 1] in "\r\n":
                raise SipParseError("Bad quoted-pair in quoted string")
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SipParseError("Unterminated quoted string")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def parse_params(text: str, what: str = "header") -> dict[str, str | None]:
    """Parse ``*( SEMI generic-param )``; keys are lower-cased, quoted values unquoted."""
    params: dict[str, str | None] = {}
    pos = _skip_ws(text, 0)
    n = len(text)
    while pos < n:
        if text[pos] != ";":
            raise SipParseError(f"Unexpected {text[pos]!r} in {what} parameters")
        pos = _skip_ws(text, pos + 1)
        start = pos
        while pos < n and text[pos] in TOKEN_CHARS:
            pos += 1
        name = text[start:pos]
        if not name:
            raise SipParseError(f"Empty parameter in {what}")
        pos = _skip_ws(text, pos)
        value: str | None = None
        if pos < n and text[pos] == "=":
            pos = _skip_ws(text, pos + 1)
            if pos < n and text[pos] == '"':
                value, pos = read_quoted(text, pos)
            else:
                start = pos
                while pos < n and text[pos] in _PARAM_VALUE_CHARS:
                    pos += 1
                value = text[start:pos]
                if not value:
                    raise SipParseError(f"Empty value for parameter {name!r} in {what}")
            pos = _skip_ws(text, pos)
        params[name.lower()] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    out: list[str] = []
    for k, v in params.items():
        if v is None:
            out.append(f";{k}")
        elif v and all(c in _PARAM_VALUE_CHARS for c in v):
            out.append(f";{k}={v}")
        else:
            out.append(f";{k}={quote(v)}")
    return "".join(out)


@dataclass
class NameAddr:
    """``[display-name] <uri> *(;param)`` as used by From, To, Contact, Route, ..."""

    uri: URI
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is None:
            self.params.pop("tag", None)
        else:
            self.params["tag"] = value

    @property
    def sip_uri(self) -> SipURI:
        if not isinstance(self.uri, SipURI):
            raise SipParseError(f"Not a SIP URI: {self.uri}")
        return self.uri

    def __str__(self) -> str:
        disp = quote(self.display_name) + " " if self.display_name is not None else ""
        return f"{disp}<{self.uri}>{format_params(self.params)}"

    def copy(self) -> NameAddr:
        uri = self.uri.copy() if isinstance(self.uri, SipURI) else self.uri
        return NameAddr(uri, self.display_name, dict(self.params))


def parse_name_addr(text: str) -> NameAddr:
    """Parse a name-addr or addr-spec with header parameters (RFC 3261 §20.10, §25.1)."""
    text = text.strip(_WS)
    if not text:
        raise SipParseError("Empty address")
    display: str | None = None
    if text[0] == '"':
        display, pos = read_quoted(text, 0)
        pos = _skip_ws(text, pos)
        if pos >= len(text) or text[pos] != "<":
            raise SipParseError("Expected '<' after display name")
    else:
        lt = text.find("<")
        semi = text.find(";")
        if lt >= 0 and (semi < 0 or lt < semi):
            words = text[:lt].split()
            for word in words:
                if not is_token(word):
                    raise SipParseError(f"Invalid display name {text[:lt].strip()!r}")
            display = " ".join(words) if words else None
            pos = lt
        else:
            # addr-spec: the URI ends at the first ';' and may not contain '?' or ','
            uri_text, _, rest = text.partition(";")
            uri_text = uri_text.rstrip(_WS)
            if any(c in uri_text for c in " \t,?"):
                raise SipParseError(f"URI with ',', '?' or spaces must be enclosed in <>: {uri_text!r}")
            uri = parse_uri(uri_text)
            return NameAddr(uri, None, parse_params(";" + rest) if rest or text.endswith(";") else {})
    end = text.find(">", pos)
    if end < 0:
        raise SipParseError("Missing '>' in address")
    inner = text[pos + 1 : end]
    if not inner or inner != inner.strip() or any(c in inner for c in " \t"):
        raise SipParseError(f"Whitespace inside <> in address {inner!r}")
    uri = parse_uri(inner)
    return NameAddr(uri, display, parse_params(text[end + 1 :]))


_VIA_RE = re.compile(
    r"^([A-Za-z0-9.!%*_+`'~\-]+)[ \t]*/[ \t]*([A-Za-z0-9.!%*_+`'~\-]+)[ \t]*/[ \t]*"
    r"([A-Za-z0-9.!%*_+`'~\-]+)[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)"
    r"(?:[ \t]*:[ \t]*([0-9]+))?[ \t]*(;.*)?$",
    re.DOTALL,
)


@dataclass
class Via:
    """A single Via header value."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def has_rport(self) -> bool:
        return "rport" in self.params

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host.lower(), self.port

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch starts with the RFC 3261 magic cookie ``z9hG4bK``."""
        b = self.branch
        return b is not None and len(b) > len(BRANCH_MAGIC_COOKIE) and b.startswith(BRANCH_MAGIC_COOKIE)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"

    def copy(self) -> Via:
        return Via(self.transport, self.host, self.port, dict(self.params), self.protocol)


def parse_via(text: str) -> Via:
    m = _VIA_RE.match(text.strip(_WS))
    if not m:
        raise SipParseError(f"Malformed Via {text.strip()!r}")
    name, version, transport, host_s, port_s, params_s = m.groups()
    hostport = host_s + (f":{port_s}" if port_s else "")
    host, port = split_hostport(hostport)
    params = parse_params(params_s or "", "Via")
    if "rport" in params and params["rport"] is not None:
        rp = params["rport"] or ""
        if not rp.isdigit() or int(rp) > 65535:
            raise SipParseError("Malformed rport in Via")
    if "received" in params:
        recv = params["received"] or ""
        try:
            ipaddress.ip_address(recv.strip("[]"))
        except ValueError:
            raise SipParseError(f"Malformed received in Via {recv!r}") from None
    if "branch" in params and not params["branch"]:
        raise SipParseError("Empty branch in Via")
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


@dataclass(frozen=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_CSEQ_RE = re.compile(r"^[ \t]*([0-9]+)[ \t]+(\S+)[ \t]*$")


def parse_cseq(text: str) -> CSeq:
    m = _CSEQ_RE.match(text)
    if not m or not is_token(m.group(2)):
        raise SipParseError(f"Malformed CSeq {text.strip()!r}")
    if len(m.group(1)) > 12 or int(m.group(1)) >= 2**31:
        raise SipParseError("CSeq number too large")
    return CSeq(int(m.group(1)), m.group(2))


class Headers:
    """Ordered, case-insensitive multi-map of header fields.

    Names are stored in canonical form (compact forms expanded).  Values are the raw
    (unfolded) strings.  :meth:`get_all` splits comma-separated multi-value headers.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(k), v) for k, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        low = canonical_name(name).lower()
        return any(k.lower() == low for k, _ in self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h

    def get(self, name: str, default: str | None = None) -> str | None:
        """First raw value of ``name``."""
        low = canonical_name(name).lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        return default

    def get_lines(self, name: str) -> list[str]:
        """All raw values of ``name`` (one per header line, not comma-split)."""
        low = canonical_name(name).lower()
        return [v for k, v in self._items if k.lower() == low]

    def get_all(self, name: str) -> list[str]:
        """All values, comma-split for multi-value headers."""
        lines = self.get_lines(name)
        if canonical_name(name).lower() not in MULTI_VALUE:
            return lines
        out: list[str] = []
        for line in lines:
            out.extend(split_commas(line))
        return out

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first existing line of ``name`` (or at the top)."""
        cname = canonical_name(name)
        low = cname.lower()
        for i, (k, _) in enumerate(self._items):
            if k.lower() == low:
                self._items.insert(i, (cname, value))
                return
        self._items.insert(0, (cname, value))

    def set(self, name: str, value: str) -> None:
        """Replace all lines of ``name`` by one (kept at the first line's position)."""
        cname = canonical_name(name)
        low = cname.lower()
        for i, (k, _) in enumerate(self._items):
            if k.lower() == low:
                self._items[i] = (cname, value)
                self._items = [item for j, item in enumerate(self._items) if j <= i or item[0].lower() != low]
                return
        self._items.append((cname, value))

    def remove(self, name: str) -> None:
        low = canonical_name(name).lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != low]

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated value of ``name`` (e.g. the top Via)."""
        low = canonical_name(name).lower()
        for i, (k, v) in enumerate(self._items):
            if k.lower() == low:
                values = split_commas(v) if low in MULTI_VALUE else [v]
                first = values[0] if values else ""
                if len(values) > 1:
                    self._items[i] = (k, ", ".join(values[1:]))
                else:
                    del self._items[i]
                return first
        return None
