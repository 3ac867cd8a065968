"""Discrete-event contact-centre simulator driving the real ACD engine (``hotline simulate``).

Typical use::

    from hotline.sim import load_scenario, run

    result = run(load_scenario("hotline/sim/examples/erlang_check.toml"))
    print(result.to_dict()["total"]["sl_abandons_missed"])

See :mod:`hotline.sim.scenario` for the TOML layout, :mod:`hotline.sim.simulator`
for the event loop and :mod:`hotline.sim.kpi` for every KPI definition.
"""

from __future__ import annotations

from pathlib import Path

from hotline.sim.distributions import (
    Constant,
    Distribution,
    DistributionError,
    Empirical,
    Exponential,
    LogNormal,
    Never,
    Uniform,
    parse_distribution,
)
from hotline.sim.kpi import KPI_DEFINITIONS, SL_DEFINITIONS, AgentTime, KpiCollector, QueueKpis
from hotline.sim.scenario import (
    AgentGroup,
    ArrivalStream,
    MixEntry,
    QueueSpec,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from hotline.sim.simulator import SimResult, Simulator, run

EXAMPLES = Path(__file__).parent / "examples"

__all__ = [
    "EXAMPLES",
    "KPI_DEFINITIONS",
    "SL_DEFINITIONS",
    "AgentGroup",
    "AgentTime",
    "ArrivalStream",
    "Constant",
    "Distribution",
    "DistributionError",
    "Empirical",
    "Exponential",
    "KpiCollector",
    "LogNormal",
    "MixEntry",
    "Never",
    "QueueKpis",
    "QueueSpec",
    "Scenario",
    "ScenarioError",
    "SimResult",
    "Simulator",
    "Uniform",
    "load_scenario",
    "parse_distribution",
    "parse_scenario",
    "run",
]
