"""Prometheus metrics of one hub, in a registry of its own.

Counters and histograms are updated on the hot path (a few microseconds per request);
per-deployment gauges (in flight, breaker state, health, restarts) are read from the
status board at scrape time by a custom collector, so keeping them costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hubactors.actors import ChildExited, ChildRestarting, SupervisorEscalated
from hubactors.model._types import ChatResponse, Usage
from hubactors.resilience import BreakerState
from hubactors.routing import StatusBoard

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BREAKER_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}


class _BoardCollector(Collector):
    def __init__(self, board: StatusBoard) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "hubactors_deployment_in_flight", "Requests being served", labels=["deployment"]
        )
        up = GaugeMetricFamily(
            "hubactors_deployment_up", "1 when the deployment's actor runs", labels=["deployment"]
        )
        healthy = GaugeMetricFamily(
            "hubactors_deployment_healthy",
            "1 when the deployment is healthy",
            labels=["deployment"],
        )
        breaker = GaugeMetricFamily(
            "hubactors_deployment_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            labels=["deployment"],
        )
        limit = GaugeMetricFamily(
            "hubactors_deployment_concurrency_limit",
            "Current concurrency cap",
            labels=["deployment"],
        )
        for status in self._board.all():
            labels = [status.name]
            in_flight.add_metric(labels, status.in_flight)
            up.add_metric(labels, float(status.up))
            healthy.add_metric(labels, float(status.healthy))
            breaker.add_metric(labels, _BREAKER_VALUE[status.breaker])
            limit.add_metric(labels, status.max_concurrency)
        yield from (in_flight, up, healthy, breaker, limit)


class HubMetrics:
    """The metrics of one hub; ``render()`` gives the Prometheus text exposition."""

    def __init__(self, board: StatusBoard, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "hubactors_requests",
            "Requests finished, by route, deployment and outcome",
            ["route", "deployment", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hubactors_request_duration_seconds",
            "Time from the call to the full answer, failover included",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "hubactors_tokens",
            "Tokens used, by deployment and kind (input, output, cached_input)",
            ["deployment", "kind"],
            registry=self.registry,
        )
        self.cost = Counter(
            "hubactors_cost_usd", "Cost in US dollars", ["deployment"], registry=self.registry
        )
        self.restarts = Counter(
            "hubactors_actor_restarts",
            "Actor restarts, by supervisor and child",
            ["supervisor", "child"],
            registry=self.registry,
        )
        self.crashes = Counter(
            "hubactors_actor_crashes",
            "Actor crashes, by supervisor, child and exception type",
            ["supervisor", "child", "error_type"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "hubactors_supervisor_escalations",
            "Supervisors that gave up and escalated",
            ["supervisor"],
            registry=self.registry,
        )
        self.registry.register(_BoardCollector(board))

    def observe_response(self, route: str, response: ChatResponse) -> None:
        """Count a served response and its usage and cost."""
        self.observe_served(
            route, response.deployment, response.latency, response.usage, response.cost
        )

    def observe_served(
        self, route: str, deployment: str, latency: float, usage: Usage, cost: float
    ) -> None:
        """Count a served request (a response or a finished stream)."""
        self.requests.labels(route, deployment, "ok").inc()
        self.latency.labels(route).observe(latency)
        self.tokens.labels(deployment, "input").inc(usage.input_tokens)
        self.tokens.labels(deployment, "output").inc(usage.output_tokens)
        if usage.cached_input_tokens:
            self.tokens.labels(deployment, "cached_input").inc(usage.cached_input_tokens)
        if cost:
            self.cost.labels(deployment).inc(cost)

    def observe_error(self, route: str, deployment: str | None, error: BaseException) -> None:
        """Count a request that ended in an error."""
        self.requests.labels(route, deployment or "", type(error).__name__).inc()

    def on_event(self, event: object) -> None:
        """Event-bus subscriber for supervision events."""
        if isinstance(event, ChildRestarting):
            self.restarts.labels(event.supervisor, event.child).inc()
        elif isinstance(event, ChildExited) and event.reason == "crash":
            self.crashes.labels(event.supervisor, event.child, event.error_type or "").inc()
        elif isinstance(event, SupervisorEscalated):
            self.escalations.labels(event.supervisor).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric of this hub."""
        return generate_latest(self.registry)
