"""Pure protection: token buckets, trust, failed-auth lockout, concurrency limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.protection import (
    AuthLockout,
    ConcurrencyLimiter,
    Protection,
    ProtectionSettings,
    RateLimiter,
    TokenBucket,
)


def test_token_bucket_burst_then_rate() -> None:
    b = TokenBucket(rate=10, burst=5, now=0)
    assert [b.take(0) for _ in range(6)] == [True] * 5 + [False]
    assert b.wait_time() > 0
    assert b.take(0.1) and not b.take(0.1)  # one token per 0.1 s
    assert all(b.take(10 + i * 0.0) for i in range(5))  # refilled to the burst, not beyond
    assert not b.take(10)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    burst=st.integers(min_value=1, max_value=200),
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=300),
)
def test_token_bucket_never_exceeds_burst_plus_rate(rate: float, burst: int, gaps: list[float]) -> None:
    b = TokenBucket(rate, burst, 0.0)
    now = 0.0
    allowed = 0
    for g in gaps:
        now += g
        allowed += b.take(now)
    assert allowed <= burst + rate * now + 1e-6


def test_rate_limiter_is_per_key_and_bounded() -> None:
    r = RateLimiter(rate=1, burst=2, max_tracked=3)
    assert r.allow("a", 0) and r.allow("a", 0) and not r.allow("a", 0)
    assert r.allow("b", 0)
    for k in "cdefg":
        r.allow(k, 0)
    assert len(r) == 3  # least recently used keys evicted


def test_trusted_sources_skip_the_rate_limit() -> None:
    p = Protection(ProtectionSettings(unauth_rate=1, unauth_burst=1, trust_ttl=60))
    assert p.admit("10.0.0.1", 0) and not p.admit("10.0.0.1", 0)
    assert p.rate_limited == 1 and p.retry_after("10.0.0.1") >= 1
    p.auth_succeeded("10.0.0.1", "1001", 0)
    assert all(p.admit("10.0.0.1", 1) for _ in range(100))
    # trust expired: limited again (the bucket refilled to its burst of 1)
    assert p.admit("10.0.0.1", 61) and not p.admit("10.0.0.1", 61)
    p.trust("10.0.0.2", 0, ttl=0)  # ttl 0: never trusted
    assert not p.trusted("10.0.0.2", 0)


def test_lockout_per_user_and_per_ip() -> None:
    lk = AuthLockout(per_user=3, per_ip=5, window=60, lockout=300)
    assert not lk.failure("1.1.1.1", "1001", 0)
    assert not lk.failure("1.1.1.1", "1001", 1)
    assert lk.failure("1.1.1.1", "1001", 2)  # third failure locks (IP, user)
    assert lk.locked("1.1.1.1", "1001", 3) > 0
    assert lk.locked("1.1.1.1", "1002", 3) == 0  # other users from that IP are fine
    assert lk.locked("2.2.2.2", "1001", 3) == 0  # and the user from elsewhere too
    assert lk.locked("1.1.1.1", "1001", 302.1) == 0  # lockout ends
    # failures spread over more than the window do not accumulate
    for t in (400, 470, 540):
        assert not lk.failure("3.3.3.3", "1001", t)
    # per IP: many users, one address
    for i in range(4):
        assert not lk.failure("4.4.4.4", f"20{i}", 1000 + i)
    assert lk.failure("4.4.4.4", "2099", 1005)
    assert lk.locked("4.4.4.4", "9999", 1006) > 0 and lk.locked("4.4.4.4", None, 1006) > 0
    assert lk.lockouts == 2


def test_success_clears_user_failures() -> None:
    lk = AuthLockout(per_user=3, per_ip=100)
    lk.failure("1.1.1.1", "1001", 0)
    lk.failure("1.1.1.1", "1001", 1)
    lk.success("1.1.1.1", "1001")
    assert not lk.failure("1.1.1.1", "1001", 2)


def test_concurrency_limiter() -> None:
    c = ConcurrencyLimiter(2)
    assert c.acquire("a") and c.acquire("a") and not c.acquire("a")
    assert c.acquire("b")
    c.release("a")
    assert c.count("a") == 1 and c.acquire("a")
    c.release("a")
    c.release("a")
    c.release("a")  # extra releases are harmless
    assert c.count("a") == 0


def test_defaults_are_sane() -> None:
    s = ProtectionSettings()
    assert s.rate_limit_action == "drop"
    assert s.max_message_size == 65535
    assert 0 < s.auth_fail_per_user < s.auth_fail_per_ip
    assert Protection().message_too_large(70000) and not Protection().message_too_large(1000)
