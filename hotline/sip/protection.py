"""Abuse protection for the SIP server (pure; time is always passed in).

* :class:`RateLimiter` — a token bucket per source IP for requests from sources that
  have not authenticated (SIP scanners, REGISTER floods).  A source becomes *trusted*
  for ``trust_ttl`` seconds after a successful digest authentication (see
  :meth:`Protection.trust`), so a whole office behind one NAT address is throttled only
  until its first phone has registered.  Over the limit the request is **dropped
  silently** by default (``rate_limit_action="drop"``: a flood gets no amplification and
  scanners learn nothing); ``"503"`` answers ``503 Service Unavailable`` with
  ``Retry-After`` instead.
* :class:`AuthLockout` — failed digest authentications counted in a sliding window per
  ``(IP, user)`` and per IP; over the threshold the pair (or the whole IP) is locked
  out and gets ``403 Forbidden`` for ``lockout_seconds``.
* :class:`ConcurrencyLimiter` — max concurrent transactions/dialogs per source (a hook
  for the B2BUA: ``acquire`` / ``release``).
* ``max_message_size`` — enforced by the transports.

Every table is bounded (``max_tracked``): when full, the least recently used entry is
evicted, so a spoofed-source flood cannot exhaust memory.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class ProtectionSettings:
    """Thresholds (all configurable; the defaults suit a call centre of a few hundred phones)."""

    #: sustained unauthenticated requests per second per source IP
    unauth_rate: float = 50.0
    #: burst of unauthenticated requests per source IP
    unauth_burst: float = 200.0
    #: ``"drop"`` (silently, the default) or ``"503"`` (503 + Retry-After)
    rate_limit_action: Literal["drop", "503"] = "drop"
    #: how long a source stays trusted after a successful authentication (0: never trusted)
    trust_ttl: float = 3600.0
    #: failed authentications per (IP, user) within ``auth_fail_window`` before lockout
    auth_fail_per_user: int = 5
    #: failed authentications per IP (any user) within ``auth_fail_window`` before lockout
    auth_fail_per_ip: int = 20
    auth_fail_window: float = 60.0
    lockout_seconds: float = 300.0
    #: requests in progress (server transactions not yet answered with a final response)
    #: and dialogs (the B2BUA acquires/releases ``Protection.concurrency`` for those) per
    #: source IP; over the limit new requests get 503 + Retry-After
    max_concurrent_per_source: int = 500
    #: TCP connections per source IP
    max_connections_per_ip: int = 100
    #: largest accepted SIP message (bytes); UDP datagrams cannot exceed 65,535
    max_message_size: int = 65535
    #: bound on every per-source table
    max_tracked: int = 100_000


class _Lru(Generic[K, V]):
    """A bounded mapping that evicts the least recently used entry."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.limit:
            self._d.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._d.pop(key, None)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d


class TokenBucket:
    """Classic token bucket: ``rate`` tokens/s, capacity ``burst``; starts full."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 if they are)."""
        missing = cost - self.tokens
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else float("inf")


class RateLimiter:
    """One :class:`TokenBucket` per key."""

    def __init__(self, rate: float, burst: float, max_tracked: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: _Lru[str, TokenBucket] = _Lru(max_tracked)

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            self._buckets.put(key, bucket)
        return bucket.take(now)

    def retry_after(self, key: str) -> float:
        bucket = self._buckets.get(key)
        return bucket.wait_time() if bucket is not None else 0.0

    def __len__(self) -> int:
        return len(self._buckets)


class _Window:
    """Failure timestamps within a sliding window, plus a lockout deadline."""

    __slots__ = ("events", "locked_until")

    def __init__(self) -> None:
        self.events: deque[float] = deque()
        self.locked_until = 0.0

    def add(self, now: float, window: float, threshold: int, lockout: float) -> bool:
        """Record a failure; returns True if this failure starts a lockout."""
        self.events.append(now)
        while self.events and self.events[0] <= now - window:
            self.events.popleft()
        if len(self.events) >= threshold and self.locked_until <= now:
            self.locked_until = now + lockout
            self.events.clear()
            return True
        return False


class AuthLockout:
    """Failed-authentication lockout per (IP, user) and per IP."""

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_ip: int = 20,
        window: float = 60.0,
        lockout: float = 300.0,
        max_tracked: int = 100_000,
    ) -> None:
        self.per_user = per_user
        self.per_ip = per_ip
        self.window = window
        self.lockout = lockout
        self._users: _Lru[tuple[str, str], _Window] = _Lru(max_tracked)
        self._ips: _Lru[str, _Window] = _Lru(max_tracked)
        self.lockouts = 0

    def locked(self, ip: str, user: str | None, now: float) -> float:
        """Seconds of lockout left for this request (0.0: not locked)."""
        left = 0.0
        w = self._ips.get(ip)
        if w is not None and w.locked_until > now:
            left = w.locked_until - now
        if user is not None:
            u = self._users.get((ip, user))
            if u is not None and u.locked_until > now:
                left = max(left, u.locked_until - now)
        return left

    def failure(self, ip: str, user: str | None, now: float) -> bool:
        """Record a failed authentication; returns True if the request is now locked out."""
        started = False
        if user is not None:
            u = self._users.get((ip, user))
            if u is None:
                u = _Window()
                self._users.put((ip, user), u)
            started |= u.add(now, self.window, self.per_user, self.lockout)
        w = self._ips.get(ip)
        if w is None:
            w = _Window()
            self._ips.put(ip, w)
        started |= w.add(now, self.window, self.per_ip, self.lockout)
        if started:
            self.lockouts += 1
        return self.locked(ip, user, now) > 0

    def success(self, ip: str, user: str) -> None:
        """A successful authentication clears the (IP, user) failure history."""
        self._users.pop((ip, user))


class ConcurrencyLimiter:
    """Counts concurrent transactions/dialogs per source; ``acquire`` fails over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        n = self._counts.get(key, 0)
        if n >= self.limit:
            return False
        self._counts[key] = n + 1
        return True

    def release(self, key: str) -> None:
        n = self._counts.get(key, 0)
        if n <= 1:
            self._counts.pop(key, None)
        else:
            self._counts[key] = n - 1

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)


class Protection:
    """All protections of one SIP server, keyed by source IP."""

    def __init__(self, settings: ProtectionSettings | None = None) -> None:
        s = self.settings = settings or ProtectionSettings()
        self.rate = RateLimiter(s.unauth_rate, s.unauth_burst, s.max_tracked)
        self.auth = AuthLockout(
            per_user=s.auth_fail_per_user,
            per_ip=s.auth_fail_per_ip,
            window=s.auth_fail_window,
            lockout=s.lockout_seconds,
            max_tracked=s.max_tracked,
        )
        self.concurrency = ConcurrencyLimiter(s.max_concurrent_per_source)
        self.connections = ConcurrencyLimiter(s.max_connections_per_ip)
        self._trusted: _Lru[str, float] = _Lru(s.max_tracked)
        self.rate_limited = 0

    # -- trust ------------------------------------------------------------------
    def trust(self, ip: str, now: float, ttl: float | None = None) -> None:
        """Mark ``ip`` as authenticated (exempt from the unauthenticated rate limit)."""
        ttl = self.settings.trust_ttl if ttl is None else ttl
        if ttl > 0:
            self._trusted.put(ip, now + ttl)

    def untrust(self, ip: str) -> None:
        self._trusted.pop(ip)

    def trusted(self, ip: str, now: float) -> bool:
        until = self._trusted.get(ip)
        if until is None:
            return False
        if until <= now:
            self._trusted.pop(ip)
            return False
        return True

    # -- checks -------------------------------------------------------------------
    def admit(self, ip: str, now: float) -> bool:
        """Rate-limit check for one incoming message; False means: over the limit."""
        if self.trusted(ip, now):
            return True
        if self.rate.allow(ip, now):
            return True
        self.rate_limited += 1
        return False

    def retry_after(self, ip: str) -> int:
        """Retry-After seconds for a 503 to a rate-limited source (at least 1)."""
        return max(1, int(self.rate.retry_after(ip)) + 1)

    def locked(self, ip: str, user: str | None, now: float) -> float:
        return self.auth.locked(ip, user, now)

    def auth_failed(self, ip: str, user: str | None, now: float) -> bool:
        return self.auth.failure(ip, user, now)

    def auth_succeeded(self, ip: str, user: str, now: float) -> None:
        self.auth.success(ip, user)
        self.trust(ip, now)

    def message_too_large(self, size: int) -> bool:
        return size > self.settings.max_message_size


__all__ = [
    "AuthLockout",
    "ConcurrencyLimiter",
    "Protection",
    "ProtectionSettings",
    "RateLimiter",
    "TokenBucket",
]
