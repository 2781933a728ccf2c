"""Build a route's strategy from its configured name; the router's one import for strategies."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import get_args

from hubactors.config import StrategyName
from hubactors.errors import ConfigError
from hubactors.routing._measured import CostStrategy, HealthStrategy, LatencyStrategy
from hubactors.routing._ordered import (
    FailoverStrategy,
    PriorityStrategy,
    RoundRobinStrategy,
    WeightedStrategy,
)
from hubactors.routing._protocol import RequestInfo, Strategy

__all__ = ["STRATEGY_NAMES", "RequestInfo", "Strategy", "make_strategy"]

STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)
"""Every strategy name a route may configure."""


def make_strategy(
    name: str, route_deployments: Sequence[str], rng: random.Random | None = None
) -> Strategy:
    """A fresh strategy for one route (strategies keep per-route state such as cursors).

    ``route_deployments`` is the route's deployment list in order; ``rng`` seeds the
    latency strategy's exploration. Raises :class:`~hubactors.errors.ConfigError` for an
    unknown ``name``.
    """
    match name:
        case "priority":
            return PriorityStrategy()
        case "failover":
            return FailoverStrategy()
        case "round-robin":
            return RoundRobinStrategy(route_deployments)
        case "weighted":
            return WeightedStrategy()
        case "cost":
            return CostStrategy()
        case "latency":
            return LatencyStrategy(rng=rng)
        case "health":
            return HealthStrategy()
    expected = ", ".join(STRATEGY_NAMES)
    raise ConfigError(
        f"unknown routing strategy {name!r} (expected one of: {expected})", key="strategy"
    )
