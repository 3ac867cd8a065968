"""SIP/SIPS URIs (RFC 3261 §19.1, §25) and opaque absolute URIs."""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field

from hotline.sip.errors import SipParseError

_ALNUM = string.ascii_letters + string.digits
_MARK = "-_.!~*'()"
_UNRESERVED = frozenset(_ALNUM + _MARK)
USER_SAFE = _UNRESERVED | frozenset("&=+$,;?/")
PASSWORD_SAFE = _UNRESERVED | frozenset("&=+$,")
PARAM_SAFE = _UNRESERVED | frozenset("[]/:&+$")
HEADER_SAFE = _UNRESERVED | frozenset("[]/?:+$")
_HEX = frozenset("0123456789abcdefABCDEF")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
_ABS_OPAQUE_RE = re.compile(r"^[^\s<>\"]+$")


def unescape(text: str, allowed: frozenset[str]) -> str:
    """Decode %HH escapes; raise on characters outside ``allowed`` or bad escapes."""
    out: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            hx = text[i + 1 : i + 3]
            if len(hx) != 2 or not all(c in _HEX for c in hx):
                raise SipParseError(f"Bad escape in URI component {text!r}")
            out.append(int(hx, 16))
            i += 3
            continue
        if ch not in allowed and ord(ch) < 128:
            raise SipParseError(f"Invalid character {ch!r} in URI component")
        if ord(ch) >= 128:
            raise SipParseError(f"Non-ASCII character in URI component {text!r}")
        out.append(ord(ch))
        i += 1
    return bytes(out).decode("utf-8", errors="surrogateescape")


def escape(text: str, safe: frozenset[str]) -> str:
    """Percent-encode every character of ``text`` not in ``safe`` (UTF-8)."""
    res: list[str] = []
    for ch in text:
        if ch in safe:
            res.append(ch)
        else:
            res.extend(f"%{b:02X}" for b in ch.encode("utf-8", errors="surrogateescape"))
    return "".join(res)


def parse_host(text: str) -> str:
    """Validate a host (hostname, IPv4 or ``[IPv6]``); returns it (IPv6 keeps brackets)."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise SipParseError(f"Bad IPv6 reference {text!r}")
        try:
            ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise SipParseError(f"Bad IPv6 reference {text!r}") from None
        return text
    if not text or not _HOSTNAME_RE.match(text):
        raise SipParseError(f"Bad host {text!r}")
    return text


def split_hostport(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (host may be an IPv6 reference)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"Bad IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"Bad host/port {text!r}")
        port_s = rest[1:] if rest else None
    else:
        host, sep, port_s_ = text.partition(":")
        port_s = port_s_ if sep else None
    host = parse_host(host)
    port: int | None = None
    if port_s is not None:
        if not _PORT_RE.match(port_s) or int(port_s) > 65535:
            raise SipParseError(f"Bad port in {text!r}")
        port = int(port_s)
    return host, port


def format_host(host: str) -> str:
    """Return ``host`` fit for a URI/Via (adds brackets around a bare IPv6 address)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@dataclass
class SipURI:
    """A ``sip:``/``sips:`` URI.  ``params`` keys are lower-cased; value ``None`` = flag."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, USER_SAFE))
            if self.password is not None:
                out.append(":" + escape(self.password, PASSWORD_SAFE))
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        for k, v in self.params.items():
            out.append(";" + escape(k, PARAM_SAFE))
            if v is not None:
                out.append("=" + escape(v, PARAM_SAFE))
        if self.headers:
            out.append(
                "?"
                + "&".join(
                    f"{escape(k, HEADER_SAFE)}={escape(v, HEADER_SAFE)}" for k, v in self.headers.items()
                )
            )
        return "".join(out)

    def copy(self) -> SipURI:
        return SipURI(
            self.host, self.user, self.password, self.port, self.scheme, dict(self.params), dict(self.headers)
        )

    def equivalent(self, other: object) -> bool:
        """Loose RFC 3261 §19.1.4 comparison (scheme, user, password, host, port, key params)."""
        if not isinstance(other, SipURI):
            return False
        if (self.scheme, self.user, self.password, self.port) != (
            other.scheme,
            other.user,
            other.password,
            other.port,
        ):
            return False
        if self.host.lower() != other.host.lower():
            return False
        for key in ("user", "ttl", "method", "maddr", "transport"):
            a, b = self.params.get(key), other.params.get(key)
            if (a or "").lower() != (b or "").lower():
                return False
        return True


@dataclass
class AbsoluteURI:
    """Any non-SIP URI (``tel:``, ``http:``, ...), kept opaque."""

    scheme: str
    opaque: str

    @property
    def user(self) -> str | None:
        """For ``tel:`` URIs the number (without parameters); ``None`` otherwise."""
        if self.scheme == "tel":
            return self.opaque.split(";", 1)[0]
        return None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


URI = SipURI | AbsoluteURI


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    for item in text.split(";"):
        if not item:
            raise SipParseError(f"Empty parameter in {what}")
        name, sep, value = item.partition("=")
        key = unescape(name, PARAM_SAFE).lower()
        if not key:
            raise SipParseError(f"Empty parameter name in {what}")
        params[key] = unescape(value, PARAM_SAFE) if sep else None
    return params


def parse_sip_uri(text: str) -> SipURI:
    """Parse a ``sip:``/``sips:`` URI; raises :class:`SipParseError` (400) on failure."""
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise SipParseError(f"Not a SIP URI: {text!r}")
    if any(c in rest for c in ' \t\r\n<>"'):
        raise SipParseError(f"Invalid character in SIP URI {text!r}")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.partition("@")
        if "@" in rest:
            raise SipParseError(f"Unescaped '@' in SIP URI {text!r}")
        u, psep, p = userinfo.partition(":")
        if not u:
            raise SipParseError(f"Empty user part in {text!r}")
        user = unescape(u, USER_SAFE)
        password = unescape(p, PASSWORD_SAFE) if psep else None
    rest, hsep, hdrs = rest.partition("?")
    hostport, _, params_s = rest.partition(";")
    host, port = split_hostport(hostport)
    params = _parse_params(params_s, "URI")
    headers: dict[str, str] = {}
    if hsep:
        for item in hdrs.split("&"):
            name, esep, value = item.partition("=")
            if not name or not esep:
                raise SipParseError(f"Bad URI header {item!r}")
            headers[unescape(name, HEADER_SAFE)] = unescape(value, HEADER_SAFE)
    return SipURI(host, user, password, port, scheme, params, headers)


def parse_uri(text: str) -> URI:
    """Parse any URI: SIP/SIPS structurally, anything else as :class:`AbsoluteURI`.

    Raises :class:`SipParseError` with status 400 for malformed URIs.
    """
    scheme, sep, rest = text.partition(":")
    if not sep or not _SCHEME_RE.match(scheme):
        raise SipParseError(f"Malformed URI {text!r}")
    if scheme.lower() in ("sip", "sips"):
        return parse_sip_uri(text)
    if not rest or not _ABS_OPAQUE_RE.match(rest):
        raise SipParseError(f"Malformed URI {text!r}")
    return AbsoluteURI(scheme.lower(), rest)
