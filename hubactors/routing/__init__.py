"""Routing: the deployment status board, the strategies that pick a deployment, and the
router actor that applies them."""

# The moving averages a DeploymentStatus publishes are measured with it.
from hubactors.resilience import Ewma
from hubactors.routing._measured import CostStrategy, HealthStrategy, LatencyStrategy
from hubactors.routing._ordered import (
    FailoverStrategy,
    PriorityStrategy,
    RoundRobinStrategy,
    WeightedStrategy,
)
from hubactors.routing._protocol import RequestInfo, Strategy
from hubactors.routing._router import (
    Busy,
    Choice,
    RouterActor,
    Select,
    Selection,
    Unavailable,
    route_named,
)
from hubactors.routing._status import DeploymentStatus, StatusBoard
from hubactors.routing._strategies import STRATEGY_NAMES, make_strategy

__all__ = [
    "STRATEGY_NAMES",
    "Busy",
    "Choice",
    "CostStrategy",
    "DeploymentStatus",
    "Ewma",
    "FailoverStrategy",
    "HealthStrategy",
    "LatencyStrategy",
    "PriorityStrategy",
    "RequestInfo",
    "RoundRobinStrategy",
    "RouterActor",
    "Select",
    "Selection",
    "StatusBoard",
    "Strategy",
    "Unavailable",
    "WeightedStrategy",
    "make_strategy",
    "route_named",
]
