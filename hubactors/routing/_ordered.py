"""Strategies that follow a fixed order or share: priority, failover, round-robin, weighted."""

from __future__ import annotations

from collections.abc import Sequence

from hubactors.routing._protocol import RequestInfo
from hubactors.routing._status import DeploymentStatus


class PriorityStrategy:
    """The candidate with the lowest ``priority``; ties go to the earlier one in the route."""

    name = "priority"

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        # min() keeps the first of equal keys, which is route order.
        return min(candidates, key=lambda c: c.priority, default=None)


class FailoverStrategy:
    """The first candidate in route order: later deployments only serve when earlier can't."""

    name = "failover"

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        return candidates[0] if candidates else None


class RoundRobinStrategy:
    """Takes turns over the route's full deployment list.

    The cursor walks the route list, not the candidates, so a deployment that is skipped
    (unavailable or saturated) neither loses its place nor shifts everyone else's turn.
    Candidates missing from the route list are only used when none of the route's are.
    """

    name = "round-robin"

    def __init__(self, route_deployments: Sequence[str]) -> None:
        self._route = list(route_deployments)
        self._cursor = 0

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        if not candidates:
            return None
        by_name = {c.name: c for c in candidates}
        size = len(self._route)
        for step in range(size):
            index = (self._cursor + step) % size
            found = by_name.get(self._route[index])
            if found is not None:
                self._cursor = (index + 1) % size
                return found
        return candidates[0]


class WeightedStrategy:
    """Smooth weighted round-robin (as in nginx), by each deployment's ``weight``.

    Every pick adds each candidate's weight to its running score, takes the highest score
    and subtracts the total weight from it. Over any cycle of ``sum(weights)`` picks the
    shares are exact, and heavy deployments are interleaved rather than served in bursts.
    Deployments not among the candidates keep their score until they return.
    """

    name = "weighted"

    def __init__(self) -> None:
        self._scores: dict[str, float] = {}

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        best: DeploymentStatus | None = None
        best_score = 0.0
        total = 0.0
        for candidate in candidates:
            weight = max(0.0, candidate.weight)
            score = self._scores.get(candidate.name, 0.0) + weight
            self._scores[candidate.name] = score
            total += weight
            if best is None or score > best_score:
                best, best_score = candidate, score
        if best is not None:
            self._scores[best.name] = best_score - total
        return best
