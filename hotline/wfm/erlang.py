"""Erlang B, Erlang C and Erlang A (M/M/N+M, "Palm") staffing mathematics.

Everything is computed without factorials: Erlang B via regularized incomplete
gamma functions in log space (``B(N, A) = Pr{Pois(A) = N} / Pr{Pois(A) <= N}``)
and the stable recursion ``B(n+1) = A·B(n) / (n + 1 + A·B(n))`` when stepping
through agent counts; Erlang A via the Garnett–Mandelbaum–Reiman /
Mandelbaum–Zeltyn closed forms, written in terms of ``P(a, x)`` (see
:mod:`hotline.wfm._gamma`). Loads of 10,000 Erlangs and more evaluate without
overflow.

Units: arrival rates are given in calls per hour, times in seconds.

Notation used in the comments: ``λ`` arrival rate, ``μ = 1/AHT``, ``θ = 1/patience``,
``A = λ/μ`` offered load (Erlangs), ``N`` agents, ``x = λ/θ``, ``a = Nμ/θ``.

Erlang A metric definitions (the variant reported by :func:`erlang_a`):

* ``wait_probability`` – probability that an arriving call finds all agents
  busy and has to queue (PASTA), ``P{W > 0}``.
* ``abandon_rate`` – fraction of *offered* calls that abandon, ``P{Ab}``.
* ``service_level`` – fraction of *offered* calls that are **answered** within
  ``T`` seconds: ``P{answered and wait <= T}``. Calls answered immediately count
  as hits; every abandoned call counts as a miss, whether it abandons before or
  after ``T``. (So ``service_level <= 1 - abandon_rate``.) With infinite
  patience this is exactly the Erlang C service level.
* ``asa_seconds`` – average speed of answer: mean wait of **answered** calls
  (including those answered without waiting), ``E[W | answered]``. With infinite
  patience it equals the Erlang C ASA.
* ``mean_wait_seconds`` – mean time in queue over all offered calls, including
  the time abandoned calls waited (``= abandon_rate · patience``, Little's law).
* ``occupancy`` – carried load per agent, ``A·(1 - P{Ab}) / N``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from hotline.wfm._gamma import (
    log1mexp,
    log_gammainc_p,
    log_gammainc_q,
    log_prefactor,
    lower_series,
)

__all__ = [
    "ErlangAResult",
    "ErlangBResult",
    "ErlangCResult",
    "UnreachableTargetError",
    "WfmInputError",
    "erlang_a",
    "erlang_a_required_agents",
    "erlang_b",
    "erlang_b_result",
    "erlang_c",
    "erlang_c_required_agents",
    "erlang_c_wait_probability",
    "offered_load",
    "required_trunks",
    "scheduled_agents",
]

_MAX_AGENTS = 10_000_000


def _check_load_supported(param: str, load: float) -> None:
    if load > _MAX_AGENTS / 2:
        raise UnreachableTargetError(
            param, f"offered load {load:.6g} Erlangs is beyond the supported {_MAX_AGENTS // 2:,} Erlangs"
        )


class WfmInputError(ValueError):
    """Invalid staffing input. ``param`` is the offending parameter's name."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class UnreachableTargetError(WfmInputError):
    """The requested target cannot be met by any number of agents/trunks."""


# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True, slots=True)
class ErlangBResult:
    """Erlang B (loss system) result."""

    trunks: int
    blocking: float
    erlangs: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    """Erlang C (M/M/N, infinite patience) staffing result."""

    agents: int
    service_level: float
    wait_probability: float
    asa_seconds: float
    occupancy: float
    offered_erlangs: float
    scheduled_agents: int | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """Erlang A (M/M/N+M) staffing result; see the module docstring for definitions."""

    agents: int
    service_level: float
    wait_probability: float
    asa_seconds: float
    occupancy: float
    abandon_rate: float
    mean_wait_seconds: float
    offered_erlangs: float
    scheduled_agents: int | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


# ---------------------------------------------------------------------------
# validation helpers


def _check_finite_nonneg(name: str, value: float) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value) or value < 0:
        raise WfmInputError(name, f"must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_positive(name: str, value: float, *, allow_inf: bool = False) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or value <= 0:
        raise WfmInputError(name, f"must be > 0, got {value!r}")
    if math.isinf(value) and not allow_inf:
        raise WfmInputError(name, f"must be finite, got {value!r}")
    return float(value)


def _check_open_unit(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise WfmInputError(name, f"must be strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_occupancy(value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0.0 < value <= 1.0:
        raise WfmInputError("max_occupancy", f"must be in (0, 1], got {value!r}")
    return float(value)


def _check_shrinkage(value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise WfmInputError("shrinkage", f"must be in [0, 1), got {value!r}")
    return float(value)


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WfmInputError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def offered_load(calls_per_hour: float, aht_seconds: float) -> float:
    """Offered load in Erlangs: ``calls_per_hour · aht_seconds / 3600``."""
    rate = _check_finite_nonneg("calls_per_hour", calls_per_hour)
    aht = _check_positive("aht_seconds", aht_seconds)
    return rate * aht / 3600.0


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Staff to schedule so that ``agents`` remain after ``shrinkage``: ``ceil(agents / (1 - s))``."""
    _check_count("agents", agents, 0)
    s = _check_shrinkage(shrinkage)
    assert s is not None
    raw = agents / (1.0 - s)
    # guard against 14/0.7 = 20.000000000000004
    return math.ceil(raw - 1e-9 * max(1.0, raw))


def _expit_neg(z: float) -> float:
    """``1 / (1 + exp(z))`` without overflow."""
    if z > 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


# ---------------------------------------------------------------------------
# Erlang B


def _log_erlang_b(n: int, load: float) -> float:
    """``log B(n, A)``: ``log Pr{Pois(A)=n} - log Pr{Pois(A)<=n}``."""
    if n == 0:
        return 0.0
    if load == 0.0:
        return -math.inf
    return log_prefactor(float(n), load) - log_gammainc_q(float(n + 1), load)


def erlang_b(erlangs: float, trunks: int) -> float:
    """Blocking probability of an M/M/N/N loss system with ``trunks`` servers."""
    load = _check_finite_nonneg("erlangs", erlangs)
    n = _check_count("trunks", trunks, 0)
    return math.exp(_log_erlang_b(n, load))


def required_trunks(erlangs: float, blocking: float) -> int:
    """Smallest number of trunks whose Erlang B blocking is ``<= blocking``."""
    load = _check_finite_nonneg("erlangs", erlangs)
    target = _check_open_unit("blocking", blocking)
    if load == 0.0:
        return 0
    _check_load_supported("erlangs", load)
    # carried load A(1 - B) <= N, so N >= A(1 - target): start there, then recurse upwards.
    n = max(0, math.floor(load * (1.0 - target)))
    b = math.exp(_log_erlang_b(n, load))
    while b > target:
        n += 1
        b = load * b / (n + load * b)
        if n > _MAX_AGENTS:  # pragma: no cover - unreachable for finite loads
            raise UnreachableTargetError("blocking", "target needs an absurd number of trunks")
    return n


def erlang_b_result(
    erlangs: float, *, trunks: int | None = None, blocking: float | None = None
) -> ErlangBResult:
    """Evaluate ``trunks`` if given, else size the group for ``blocking``."""
    if trunks is None:
        if blocking is None:
            raise WfmInputError("blocking", "give a blocking target or a trunk count")
        trunks = required_trunks(erlangs, blocking)
    return ErlangBResult(trunks=trunks, blocking=erlang_b(erlangs, trunks), erlangs=float(erlangs))


# ---------------------------------------------------------------------------
# Erlang C


def erlang_c_wait_probability(agents: int, erlangs: float) -> float:
    """Erlang C probability of waiting ``C(N, A)``; 1.0 when ``N <= A`` (unstable queue)."""
    load = _check_finite_nonneg("erlangs", erlangs)
    n = _check_count("agents", agents, 0)
    if load == 0.0:
        return 0.0
    if n <= load:
        return 1.0
    b = math.exp(_log_erlang_b(n, load))
    return _c_from_b(n, load, b)


def _c_from_b(n: int, load: float, b: float) -> float:
    return n * b / (n - load * (1.0 - b))


def _c_metrics(n: int, load: float, c: float, aht: float, sl_seconds: float) -> tuple[float, float, float]:
    """(service level, asa, occupancy) for ``n > load`` given ``C``."""
    gap = n - load
    sl = 1.0 - c * math.exp(-gap * sl_seconds / aht)
    asa = c * aht / gap
    return sl, asa, load / n


def erlang_c(
    agents: int,
    calls_per_hour: float,
    aht_seconds: float,
    sl_seconds: float,
    *,
    shrinkage: float | None = None,
) -> ErlangCResult:
    """Evaluate an Erlang C staffing of ``agents``.

    ``service_level`` = ``P{wait <= sl_seconds}`` over all calls,
    ``asa_seconds`` = mean wait over all calls. For ``agents <= load`` the queue is
    unstable: service level 0, wait probability 1, ASA ``inf``, occupancy 1.
    """
    load = offered_load(calls_per_hour, aht_seconds)
    aht = float(aht_seconds)
    t = _check_finite_nonneg("sl_seconds", sl_seconds)
    n = _check_count("agents", agents, 0)
    s = _check_shrinkage(shrinkage)
    sched = None if s is None else scheduled_agents(n, s)
    if load == 0.0:
        return ErlangCResult(n, 1.0, 0.0, 0.0, 0.0, 0.0, sched)
    if n <= load:
        return ErlangCResult(n, 0.0, 1.0, math.inf, 1.0, load, sched)
    c = erlang_c_wait_probability(n, load)
    sl, asa, occ = _c_metrics(n, load, c, aht, t)
    return ErlangCResult(n, sl, c, asa, occ, load, sched)


def erlang_c_required_agents(
    calls_per_hour: float,
    aht_seconds: float,
    sl_target: float,
    sl_seconds: float,
    *,
    max_occupancy: float | None = None,
    shrinkage: float | None = None,
) -> ErlangCResult:
    """Smallest ``N`` with Erlang C ``SL(sl_seconds) >= sl_target`` (and occupancy <= max)."""
    load = offered_load(calls_per_hour, aht_seconds)
    aht = float(aht_seconds)
    target = _check_open_unit("sl_target", sl_target)
    t = _check_finite_nonneg("sl_seconds", sl_seconds)
    occ_max = _check_occupancy(max_occupancy)
    s = _check_shrinkage(shrinkage)
    if load == 0.0:
        return erlang_c(0, calls_per_hour, aht_seconds, t, shrinkage=s)
    _check_load_supported("calls_per_hour", load)
    n = math.floor(load) + 1
    if occ_max is not None:
        n = max(n, math.ceil(load / occ_max - 1e-12))
        while load / n > occ_max:
            n += 1
    b = math.exp(_log_erlang_b(n, load))
    while True:
        c = _c_from_b(n, load, b)
        sl, asa, occ = _c_metrics(n, load, c, aht, t)
        if sl >= target:
            sched = None if s is None else scheduled_agents(n, s)
            return ErlangCResult(n, sl, c, asa, occ, load, sched)
        n += 1
        b = load * b / (n + load * b)
        if n > _MAX_AGENTS:  # pragma: no cover - SL -> 1 as N grows
            raise UnreachableTargetError("sl_target", "service level target cannot be reached")


# ---------------------------------------------------------------------------
# Erlang A


@dataclass(frozen=True, slots=True)
class _ACore:
    wait_probability: float
    abandon_rate: float
    service_level: float
    asa_seconds: float
    mean_wait_seconds: float


def _erlang_a_core(n: int, lam: float, mu: float, theta: float, t: float, want_asa: bool) -> _ACore:
    """Erlang A metrics; rates per second, ``n >= 1``, ``lam > 0``, ``theta > 0``."""
    load = lam / mu
    x = lam / theta
    a = n * mu / theta
    # E = Σ_{k<n} π_k / π_n = 1/B(n, A) - 1 = Q(n, A) / D(n, A)
    log_e = log_gammainc_q(float(n), load) - log_prefactor(float(n), load)
    # S = Σ_{j>=0} π_{n+j} / π_n = Σ_j x^j / ((a+1)…(a+j)) = P(a, x) / D(a, x);
    # m = mean queue length seen by a waiting arrival = Σ j r_j / S.
    log_d_ax = log_prefactor(a, x)
    if x < a + 1.0:
        s_val, moment = lower_series(a, x)
        log_s = math.log(s_val)
        log_p_ax = log_d_ax + log_s
        mean_q = moment / s_val
    else:
        log_p_ax = log_gammainc_p(a, x)
        log_s = log_p_ax - log_d_ax
        mean_q = max(0.0, x - a * (-math.expm1(-log_s)))
    pw = _expit_neg(log_e - log_s)
    p_ab_w = min(1.0, mean_q / x)  # P{Ab | W > 0} = θ E[Q | Q-regime] / λ
    p_ab = pw * p_ab_w
    # P{answered, 0 < V <= T | W > 0} = (a/x) [P(a+1, x) - P(a+1, x e^{-θT})] / P(a, x)
    y = x * math.exp(-theta * t)
    if t <= 0.0 or y >= x:
        frac = 0.0
    else:
        a1 = a + 1.0
        if y >= a1:
            lq_y = log_gammainc_q(a1, y)
            lq_x = log_gammainc_q(a1, x)
            log_delta = lq_y + log1mexp(min(0.0, lq_x - lq_y))
        else:
            lp_x = log_gammainc_p(a1, x)
            lp_y = log_gammainc_p(a1, y)
            log_delta = lp_x + log1mexp(min(0.0, lp_y - lp_x))
        frac = math.exp(math.log(a) - math.log(x) + log_delta - log_p_ax)
        frac = min(frac, 1.0 - p_ab_w)
    sl = min(1.0, max(0.0, (1.0 - pw) + pw * frac))
    asa = math.nan
    if want_asa:
        asa = _erlang_a_answered_wait(a, x, log_s, theta) * pw / (1.0 - p_ab) if p_ab < 1.0 else math.nan
    return _ACore(pw, p_ab, sl, asa, p_ab / theta)


def _erlang_a_answered_wait(a: float, x: float, log_s: float, theta: float) -> float:
    """``E[V · 1{answered} | W > 0]``.

    Given ``j`` calls ahead, the virtual wait is ``V = -ln(Y)/θ`` with
    ``Y ~ Beta(a, j+1)``, so ``E[V e^{-θV} | j] = (a/(a+j+1)) · Σ_{k=1}^{j+1} 1/(a+k) / θ``;
    this sums it against the queue distribution ``r_j / S`` from ``j = 0`` until the
    weights are negligible past the mode.
    """
    log_x = math.log(x)
    mode = max(0.0, x - a)
    log_w = -log_s
    harmonic = 0.0
    total = 0.0
    j = 0
    limit = int(mode + 60.0 * math.sqrt(x + 1.0) + 2000.0)
    while j <= limit:
        denom = a + j + 1.0
        harmonic += 1.0 / denom
        w = math.exp(log_w)
        term = w * (a / denom) * harmonic
        total += term
        if j > mode and w < 1e-17 and term <= 1e-17 * total:
            break
        log_w += log_x - math.log(denom)
        j += 1
    return total / theta


def erlang_a(
    agents: int,
    calls_per_hour: float,
    aht_seconds: float,
    patience_seconds: float,
    sl_seconds: float,
    *,
    shrinkage: float | None = None,
) -> ErlangAResult:
    """Evaluate an Erlang A (M/M/N+M) staffing of ``agents``.

    Poisson arrivals, exponential service (mean ``aht_seconds``) and exponential
    patience (mean ``patience_seconds``; ``math.inf`` gives the Erlang C values,
    which require ``agents > load``). Reported metrics, all per *offered* call
    unless stated otherwise:

    * ``service_level`` = P{answered and waited <= ``sl_seconds``}: answered within T
      divided by offered. Immediate answers are hits; **every abandon is a miss**,
      including abandons before T. Hence ``service_level <= 1 - abandon_rate``.
    * ``wait_probability`` = P{all agents busy on arrival} (the call queues).
    * ``abandon_rate`` = P{call abandons}.
    * ``asa_seconds`` = E[wait | answered], over answered calls incl. zero waits.
    * ``mean_wait_seconds`` = E[time in queue] over all offered calls
      (abandoned calls contribute their time to abandon) = ``abandon_rate · patience``.
    * ``occupancy`` = carried load / agents = ``A·(1 - abandon_rate) / N``.
    """
    load = offered_load(calls_per_hour, aht_seconds)
    aht = float(aht_seconds)
    patience = _check_positive("patience_seconds", patience_seconds, allow_inf=True)
    t = _check_finite_nonneg("sl_seconds", sl_seconds)
    n = _check_count("agents", agents, 1 if load > 0 else 0)
    s = _check_shrinkage(shrinkage)
    sched = None if s is None else scheduled_agents(n, s)
    if load == 0.0:
        return ErlangAResult(n, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, sched)
    if math.isinf(patience):
        c = erlang_c(n, calls_per_hour, aht_seconds, t)
        return ErlangAResult(
            n,
            c.service_level,
            c.wait_probability,
            c.asa_seconds,
            c.occupancy,
            0.0,
            c.asa_seconds,
            load,
            sched,
        )
    lam = float(calls_per_hour) / 3600.0
    core = _erlang_a_core(n, lam, 1.0 / aht, 1.0 / patience, t, True)
    occ = min(1.0, load * (1.0 - core.abandon_rate) / n)
    return ErlangAResult(
        n,
        core.service_level,
        core.wait_probability,
        core.asa_seconds,
        occ,
        core.abandon_rate,
        core.mean_wait_seconds,
        load,
        sched,
    )


def _smallest(ok: Callable[[int], bool], start: int, param: str) -> int:
    """Smallest ``n >= 1`` with ``ok(n)`` for a monotone predicate, galloping from ``start``."""
    n = max(1, start)
    if ok(n):
        hi, lo, step = n, 0, 1
        while hi - step >= 1:
            cand = hi - step
            if not ok(cand):
                lo = cand
                break
            hi = cand
            step *= 2
    else:
        lo, step = n, 1
        while True:
            cand = lo + step
            if cand > _MAX_AGENTS:
                raise UnreachableTargetError(param, "target cannot be reached with any number of agents")
            if ok(cand):
                hi = cand
                break
            lo = cand
            step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def erlang_a_required_agents(
    calls_per_hour: float,
    aht_seconds: float,
    patience_seconds: float,
    sl_target: float,
    sl_seconds: float,
    *,
    max_occupancy: float | None = None,
    shrinkage: float | None = None,
) -> ErlangAResult:
    """Smallest ``N`` with Erlang A service level ``>= sl_target`` (and occupancy <= max).

    The service level is the one of :func:`erlang_a`: answered within
    ``sl_seconds`` / offered, every abandon counting as a miss. Note that at large
    scale with short patience this target can be met while overloaded (``N < A``),
    because the calls that do get answered are answered quickly; check
    ``abandon_rate`` of the result.

    Galloping + bisection starting at the offered load, so a search costs
    ``O(log(N - A))`` evaluations.
    """
    load = offered_load(calls_per_hour, aht_seconds)
    aht = float(aht_seconds)
    patience = _check_positive("patience_seconds", patience_seconds, allow_inf=True)
    target = _check_open_unit("sl_target", sl_target)
    t = _check_finite_nonneg("sl_seconds", sl_seconds)
    occ_max = _check_occupancy(max_occupancy)
    s = _check_shrinkage(shrinkage)
    if load == 0.0:
        return erlang_a(0, calls_per_hour, aht_seconds, patience, t, shrinkage=s)
    _check_load_supported("calls_per_hour", load)
    if math.isinf(patience):
        c = erlang_c_required_agents(
            calls_per_hour, aht_seconds, target, t, max_occupancy=occ_max, shrinkage=s
        )
        return erlang_a(c.agents, calls_per_hour, aht_seconds, patience, t, shrinkage=s)
    lam = float(calls_per_hour) / 3600.0
    mu = 1.0 / aht
    theta = 1.0 / patience

    def ok(n: int) -> bool:
        core = _erlang_a_core(n, lam, mu, theta, t, False)
        if core.service_level < target:
            return False
        return occ_max is None or min(1.0, load * (1.0 - core.abandon_rate) / n) <= occ_max

    n = _smallest(ok, round(load), "sl_target")
    return erlang_a(n, calls_per_hour, aht_seconds, patience, t, shrinkage=s)
