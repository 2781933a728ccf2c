"""Prometheus metrics of one hub, in a registry of its own.

Counters and histograms are updated on the hot path: each child metric (one label set) is
looked up once and cached, since ``labels(...)`` costs a microsecond or two and a dict
lookup a few dozen nanoseconds. Gauges (per deployment from the status board, queue depths
per route) are read at scrape time by custom collectors, so keeping them costs nothing.

Every label has a bounded set of values: routes and deployments come from the config (a
route a caller names that does not exist is counted as ``unknown``), outcomes and error
types are exception class names, breaker states are the breaker's three. Each metric is
documented in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hubactors.actors import ChildExited, ChildRestarting, SupervisorEscalated
from hubactors.deployment import DeploymentObserver
from hubactors.hub._driver import RequestObserver
from hubactors.hub._plan import AttemptRecord
from hubactors.model._types import ChatResponse, Usage
from hubactors.resilience import BreakerState
from hubactors.routing import StatusBoard
from hubactors.shared import SharedRedis

UNKNOWN_ROUTE = "unknown"
"""The ``route`` label of requests that named no configured route."""

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ATTEMPT_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10)
_BREAKER_VALUE = {BreakerState.CLOSED: 0.0, BreakerState.HALF_OPEN: 1.0, BreakerState.OPEN: 2.0}

_Child = TypeVar("_Child", Counter, Histogram)


class _Children(Generic[_Child]):
    """The children of one labelled metric, each built by ``labels(...)`` once."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: _Child) -> None:
        self._metric: _Child = metric
        self._children: dict[tuple[str, ...], _Child] = {}

    def __call__(self, *labels: str) -> _Child:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


class _Served:
    """The children one served request of a (route, deployment) pair updates."""

    __slots__ = ("cached_tokens", "cost", "input_tokens", "latency", "ok", "output_tokens")

    def __init__(self, metrics: HubMetrics, route: str, deployment: str) -> None:
        self.ok = metrics.requests.labels(route, deployment, "ok")
        self.latency = metrics.latency.labels(route)
        self.input_tokens = metrics.tokens.labels(deployment, "input")
        self.output_tokens = metrics.tokens.labels(deployment, "output")
        self.cached_tokens = metrics.tokens.labels(deployment, "cached_input")
        self.cost = metrics.cost.labels(deployment)


class _DeploymentMetrics(DeploymentObserver):
    """What one deployment reports (breaker transitions, rate-limit waits), to metrics."""

    __slots__ = ("_name", "_transitions", "_waited")

    def __init__(self, metrics: HubMetrics, name: str) -> None:
        self._name = name
        self._waited = metrics.limiter_wait.labels(name)
        self._transitions = _Children(metrics.breaker_transitions)

    def breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        self._transitions(self._name, old.value, new.value).inc()

    def waited_for_limits(self, seconds: float) -> None:
        self._waited.observe(seconds)


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


class _QueueCollector(Collector):
    def __init__(self, queues: Mapping[str, Sized]) -> None:
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "hubactors_queue_depth",
            "Requests waiting in the route's queue (every deployment at a limit)",
            labels=["route"],
        )
        for route, queue in sorted(self._queues.items()):
            depth.add_metric([route], len(queue))
        yield depth


class _RedisCollector(Collector):
    def __init__(self, redis: SharedRedis | None) -> None:
        self._redis = redis

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "hubactors_redis_up",
            "1 while the Redis shared by hub processes answers; 0 while the hub falls back "
            "to per-process state (or refuses, with on_error = closed)",
        )
        if self._redis is not None:  # a hub with nothing in Redis has no sample
            up.add_metric([], float(self._redis.available))
        yield up


class HubMetrics(RequestObserver):
    """The metrics of one hub; ``render()`` gives the Prometheus text exposition.

    ``routes`` are the names that may appear as a ``route`` label (any other is counted as
    ``"unknown"``). It observes the request driver (it is its ``RequestObserver``) and,
    through :meth:`deployment`, each deployment; :meth:`track_queues` adds the queue depths.
    """

    def __init__(
        self,
        board: StatusBoard,
        routes: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._routes = frozenset(routes)
        self._served: dict[tuple[str, str], _Served] = {}
        self.requests = self._counter(
            "hubactors_requests",
            "Requests finished, by route, deployment and outcome",
            ["route", "deployment", "outcome"],
        )
        self.latency = self._histogram(
            "hubactors_request_duration_seconds",
            "Time from the call to the full answer, failover included",
            ["route"],
            _LATENCY_BUCKETS,
        )
        self.ttft = self._histogram(
            "hubactors_time_to_first_token_seconds",
            "Streams: time from the request's start to its first content event",
            ["route", "deployment"],
            _LATENCY_BUCKETS,
        )
        self.request_attempts = self._histogram(
            "hubactors_request_attempts",
            "Attempts one request made (failover, retries and hedges included)",
            ["route"],
            _ATTEMPT_BUCKETS,
        )
        self.retries = self._counter(
            "hubactors_retries",
            "Attempts after a failed one, by the failed attempt's deployment and error type",
            ["route", "deployment", "error_type"],
        )
        self.failovers = self._counter(
            "hubactors_failovers",
            "Retries on another deployment, by the deployment failed over from and its error",
            ["route", "deployment", "error_type"],
        )
        self.hedges_sent = self._counter(
            "hubactors_hedges_sent", "Second copies sent for slow requests", ["route"]
        )
        self.hedges_won = self._counter(
            "hubactors_hedges_won", "Second copies that answered first", ["route"]
        )
        self.queue_wait = self._histogram(
            "hubactors_queue_wait_seconds",
            "Time a request that queued spent in its route's queue, all turns together",
            ["route"],
            _WAIT_BUCKETS,
        )
        self.limiter_wait = self._histogram(
            "hubactors_rate_limit_wait_seconds",
            "Time an admission the rate limiter could not grant at once waited for it",
            ["deployment"],
            _WAIT_BUCKETS,
        )
        self.breaker_transitions = self._counter(
            "hubactors_breaker_transitions",
            "Circuit breaker state changes, by deployment, from-state and to-state",
            ["deployment", "from_state", "to_state"],
        )
        self.tokens = self._counter(
            "hubactors_tokens",
            "Tokens used, by deployment and kind (input, output, cached_input)",
            ["deployment", "kind"],
        )
        self.cost = self._counter("hubactors_cost_usd", "Cost in US dollars", ["deployment"])
        self.restarts = self._counter(
            "hubactors_actor_restarts",
            "Actor restarts, by supervisor and child",
            ["supervisor", "child"],
        )
        self.crashes = self._counter(
            "hubactors_actor_crashes",
            "Actor crashes, by supervisor, child and exception type",
            ["supervisor", "child", "error_type"],
        )
        self.escalations = self._counter(
            "hubactors_supervisor_escalations",
            "Supervisors that gave up and escalated",
            ["supervisor"],
        )
        self.cache_lookups = self._counter(
            "hubactors_cache_lookups",
            "Response cache lookups, by route and result (hit, miss)",
            ["route", "result"],
        )
        self._cache_lookups = _Children(self.cache_lookups)
        self._errors = _Children(self.requests)
        self._ttft = _Children(self.ttft)
        self._attempts = _Children(self.request_attempts)
        self._retries = _Children(self.retries)
        self._failovers = _Children(self.failovers)
        self._hedges_sent = _Children(self.hedges_sent)
        self._hedges_won = _Children(self.hedges_won)
        self._queue_wait = _Children(self.queue_wait)
        self.registry.register(_BoardCollector(board))

    def _counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def route_label(self, route: str) -> str:
        """``route`` when it is configured, else ``"unknown"``: a caller's text never
        becomes a label."""
        return route if route in self._routes else UNKNOWN_ROUTE

    def deployment(self, name: str) -> DeploymentObserver:
        """The observer to give deployment ``name``'s state (breaker, rate-limit waits)."""
        return _DeploymentMetrics(self, name)

    def track_queues(self, queues: Mapping[str, Sized]) -> None:
        """Report ``len()`` of each route's queue as ``hubactors_queue_depth`` at scrape time."""
        self.registry.register(_QueueCollector(queues))

    # --- requests, from the hub ----------------------------------------------------------

    def observe_response(self, route: str, response: ChatResponse) -> None:
        """Count a served response and its usage and cost."""
        self.observe_served(
            route,
            response.deployment,
            response.latency,
            response.usage,
            response.cost,
            response.cached,
        )

    def observe_served(
        self,
        route: str,
        deployment: str,
        latency: float,
        usage: Usage,
        cost: float,
        cached: bool = False,
    ) -> None:
        """Count a served request (a response or a finished stream); an answer from the
        cache used no tokens and cost nothing."""
        key = (self.route_label(route), deployment)
        served = self._served.get(key)
        if served is None:
            served = self._served[key] = _Served(self, *key)
        served.ok.inc()
        served.latency.observe(latency)
        if cached:
            return
        served.input_tokens.inc(usage.input_tokens)
        served.output_tokens.inc(usage.output_tokens)
        if usage.cached_input_tokens:
            served.cached_tokens.inc(usage.cached_input_tokens)
        if cost:
            served.cost.inc(cost)

    def observe_error(self, route: str, deployment: str | None, error: BaseException) -> None:
        """Count a request that ended in an error (``route`` may be the caller's text)."""
        self._errors(self.route_label(route), deployment or "", type(error).__name__).inc()

    # --- the request driver's observations (RequestObserver) --------------------------------

    def retrying(self, route: str, failed: AttemptRecord, deployment: str) -> None:
        self._retries(route, failed.deployment, failed.outcome).inc()
        if deployment != failed.deployment:
            self._failovers(route, failed.deployment, failed.outcome).inc()

    def hedge_sent(self, route: str) -> None:
        self._hedges_sent(route).inc()

    def hedge_won(self, route: str) -> None:
        self._hedges_won(route).inc()

    def queued(self, route: str, seconds: float) -> None:
        self._queue_wait(route).observe(seconds)

    def attempts(self, route: str, count: int) -> None:
        self._attempts(route).observe(count)

    def first_token(self, route: str, deployment: str, seconds: float) -> None:
        self._ttft(route, deployment).observe(seconds)

    def cache_lookup(self, route: str, hit: bool) -> None:
        self._cache_lookups(route, "hit" if hit else "miss").inc()

    def track_redis(self, redis: SharedRedis | None) -> None:
        """Report whether the hub's Redis answers as ``hubactors_redis_up`` at scrape time."""
        self.registry.register(_RedisCollector(redis))

    # --- supervision, from the event bus ------------------------------------------------------

    def on_event(self, event: object) -> None:
        """Event-bus subscriber for supervision events."""
        if isinstance(event, ChildRestarting):
            self.restarts.labels(event.supervisor, event.child).inc()
        elif isinstance(event, ChildExited) and event.reason == "crash":
            self.crashes.labels(event.supervisor, event.child, event.error_type or "").inc()
        elif isinstance(event, SupervisorEscalated):
            self.escalations.labels(event.supervisor).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric of this hub (UTF-8)."""
        return generate_latest(self.registry)
