"""Strategies that rank by what deployments cost or how they behave: cost, latency, health."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from hubactors.resilience import BreakerState
from hubactors.routing._protocol import RequestInfo
from hubactors.routing._status import DeploymentStatus


class CostStrategy:
    """The cheapest candidate for this request at list price; ties by priority, then order.

    The expected cost is ``input_tokens * input_price + output_tokens * output_price`` with
    the request's estimated sizes (:class:`RequestInfo`): its ``max_tokens`` is an upper
    bound, so this ranks by worst case, like the TPM reservation of the same request.
    Deployments with unknown prices cost 0 and therefore win: set
    ``input_cost_per_mtok``/``output_cost_per_mtok`` for them.
    """

    name = "cost"

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        tokens_in, output = info.estimated_input_tokens, info.estimated_output_tokens
        return min(
            candidates,
            key=lambda c: (c.expected_cost(tokens_in, output), c.priority),
            default=None,
        )


class LatencyStrategy:
    """The candidate with the lowest moving-average latency (time to first token for streams).

    Candidates not measured yet are tried first (the least busy of them), so every new or
    restarted deployment gets measured. With probability ``epsilon`` a uniformly random
    candidate is taken instead, so a deployment whose average was spoiled by a passing spike
    gets the chance to prove it recovered. ``rng`` makes that draw reproducible.
    """

    name = "latency"

    def __init__(self, *, epsilon: float = 0.05, rng: random.Random | None = None) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be within 0..1, got {epsilon!r}")
        self.epsilon = epsilon
        self._rng = rng if rng is not None else random.Random()

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        if not candidates:
            return None
        # Draw only when exploring is on, so epsilon=0 never touches the rng.
        if self.epsilon > 0 and len(candidates) > 1 and self._rng.random() < self.epsilon:
            return self._rng.choice(candidates)
        metric: Callable[[DeploymentStatus], float | None] = (
            (lambda c: c.ewma_ttft) if info.stream else (lambda c: c.ewma_latency)
        )
        unmeasured = [c for c in candidates if metric(c) is None]
        if unmeasured:
            return min(unmeasured, key=lambda c: c.in_flight)
        return min(candidates, key=lambda c: metric(c) or 0.0)


class HealthStrategy:
    """The candidate with the best health score; ties go to the earlier one in the route.

    The score is ``ewma_success``, halved for a half-open breaker and again for a failed
    health probe, and reduced by up to ``load_weight`` (default 50%) as concurrency slots
    fill, so equally healthy deployments share the load.
    """

    name = "health"

    def __init__(self, *, load_weight: float = 0.5, half_open_penalty: float = 0.5) -> None:
        self.load_weight = load_weight
        self.half_open_penalty = half_open_penalty

    def score(self, status: DeploymentStatus) -> float:
        """The health score of one deployment (higher is better, 0.0 to 1.0)."""
        value = max(0.0, status.ewma_success)
        if status.breaker == BreakerState.HALF_OPEN:
            value *= self.half_open_penalty
        if not status.healthy:
            value *= 0.5
        return value * (1.0 - self.load_weight * status.load)

    def choose(
        self, candidates: Sequence[DeploymentStatus], info: RequestInfo, now: float
    ) -> DeploymentStatus | None:
        # max() keeps the first of equal keys, which is route order.
        return max(candidates, key=self.score, default=None)
