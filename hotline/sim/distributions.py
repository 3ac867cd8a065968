"""Random-variate distributions of the simulator (handle time, patience, answer delay).

Every distribution is a frozen dataclass with ``sample(rng)`` drawing from a seeded
:class:`random.Random` (never the global generator) and ``mean`` (``math.inf`` for
"no abandonment").  :func:`parse_distribution` builds one from a scenario table::

    {dist = "exponential", mean = 180}
    {dist = "lognormal", mean = 240, sd = 120}       # mean / sd of the variate itself
    {dist = "constant", value = 20}
    {dist = "uniform", min = 0, max = 2}
    {dist = "empirical", values = [30, 45, 180, 600]} # resampled uniformly
    {dist = "none"}                                   # infinite (patience only)

A bare number is accepted as a constant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Constant",
    "Distribution",
    "DistributionError",
    "Empirical",
    "Exponential",
    "LogNormal",
    "Never",
    "Uniform",
    "parse_distribution",
]


class DistributionError(ValueError):
    """A distribution table is invalid; the message says why."""


@dataclass(frozen=True, slots=True)
class Exponential:
    mean_value: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_value)

    @property
    def mean(self) -> float:
        return self.mean_value


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal with the given mean and standard deviation of the variate (not of its log)."""

    mean_value: float
    sd: float

    @property
    def mu(self) -> float:
        return math.log(self.mean_value) - 0.5 * self.sigma**2

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p((self.sd / self.mean_value) ** 2))

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    @property
    def mean(self) -> float:
        return self.mean_value


@dataclass(frozen=True, slots=True)
class Constant:
    value: float

    def sample(self, rng: random.Random) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return self.low + (self.high - self.low) * rng.random()

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)


@dataclass(frozen=True, slots=True)
class Empirical:
    values: tuple[float, ...]

    def sample(self, rng: random.Random) -> float:
        return self.values[int(rng.random() * len(self.values))]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)


@dataclass(frozen=True, slots=True)
class Never:
    """Infinite (a caller who never abandons)."""

    def sample(self, rng: random.Random) -> float:
        return math.inf

    @property
    def mean(self) -> float:
        return math.inf


Distribution = Exponential | LogNormal | Constant | Uniform | Empirical | Never

_KEYS: dict[str, tuple[str, ...]] = {
    "exponential": ("mean",),
    "lognormal": ("mean", "sd"),
    "constant": ("value",),
    "uniform": ("min", "max"),
    "empirical": ("values",),
    "none": (),
}


def _number(table: Mapping[str, object], key: str, *, positive: bool) -> float:
    v = table.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise DistributionError(f"'{key}' must be a finite number, got {v!r}")
    if v < 0 or (positive and v == 0):
        raise DistributionError(f"'{key}' must be {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def parse_distribution(spec: object, *, allow_none: bool = False) -> Distribution:
    """Build a distribution from a scenario value; raises :class:`DistributionError`."""
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Constant(_number({"value": spec}, "value", positive=False))
    if isinstance(spec, str) and spec == "none":
        spec = {"dist": "none"}
    if not isinstance(spec, Mapping):
        raise DistributionError(
            f'expected a table such as {{dist = "exponential", mean = 180}}, got {spec!r}'
        )
    kind = spec.get("dist")
    if kind not in _KEYS:
        raise DistributionError(f"unknown dist {kind!r} (expected one of {', '.join(sorted(_KEYS))})")
    assert isinstance(kind, str)
    extra = sorted(set(spec) - {"dist", *_KEYS[kind]})
    if extra:
        raise DistributionError(f"unexpected key(s) {', '.join(extra)} for dist {kind!r}")
    missing = [k for k in _KEYS[kind] if k not in spec]
    if missing:
        raise DistributionError(f"dist {kind!r} needs {', '.join(missing)}")
    if kind == "exponential":
        return Exponential(_number(spec, "mean", positive=True))
    if kind == "lognormal":
        return LogNormal(_number(spec, "mean", positive=True), _number(spec, "sd", positive=False))
    if kind == "constant":
        return Constant(_number(spec, "value", positive=False))
    if kind == "uniform":
        low, high = _number(spec, "min", positive=False), _number(spec, "max", positive=False)
        if high < low:
            raise DistributionError(f"'max' ({high}) must be >= 'min' ({low})")
        return Uniform(low, high)
    if kind == "empirical":
        raw = spec["values"]
        if not isinstance(raw, list) or not raw:
            raise DistributionError("'values' must be a non-empty list of numbers")
        vals = tuple(_number({"v": x}, "v", positive=False) for x in raw)
        return Empirical(vals)
    if not allow_none:
        raise DistributionError("dist 'none' (infinite) is only allowed for patience")
    return Never()
