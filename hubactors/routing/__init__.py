"""Routing: the deployment status board and the strategies that pick a deployment."""

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
from hubactors.routing._status import DeploymentStatus, StatusBoard
from hubactors.routing._strategies import STRATEGY_NAMES, make_strategy

__all__ = [
    "STRATEGY_NAMES",
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
