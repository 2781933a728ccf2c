"""Routing: the deployment status board and the strategies that pick a deployment."""

from hubactors.routing._ewma import Ewma
from hubactors.routing._measured import CostStrategy, HealthStrategy, LatencyStrategy
from hubactors.routing._ordered import (
    FailoverStrategy,
    PriorityStrategy,
    RoundRobinStrategy,
    WeightedStrategy,
)
from hubactors.routing._protocol import RequestInfo, Strategy
from hubactors.routing._status import BreakerState, DeploymentStatus, StatusBoard
from hubactors.routing._strategies import STRATEGY_NAMES, make_strategy

__all__ = [
    "STRATEGY_NAMES",
    "BreakerState",
    "CostStrategy",
    "DeploymentStatus",
    "Ewma",
    "FailoverStrategy",
    "HealthStrategy",
    "LatencyStrategy",
    "PriorityStrategy",
    "RequestInfo",
    "RoundRobinStrategy",
    "StatusBoard",
    "Strategy",
    "WeightedStrategy",
    "make_strategy",
]
