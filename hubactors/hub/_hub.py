"""``open_hub``: the long-lived runtime an application embeds.

The supervision tree::

    hub                      rest_for_one
    ├── deployments          one_for_one, intensity/period from the config, jittered backoff
    │   ├── ProviderActor "primary"
    │   └── ...
    └── router               RouterActor

A crash in one provider actor restarts that actor only. If deployments keep crashing past
the intensity limit, the deployments supervisor escalates: the hub restarts it and the
router after it; past the hub's own limit, ``open_hub`` raises the escalation.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import trio

from hubactors._logging import logger
from hubactors._timing import Backoff
from hubactors.actors import (
    ChildExited,
    ChildRestarting,
    ChildSpec,
    EventBus,
    Mailbox,
    RestartStrategy,
    Supervisor,
    SupervisorEscalated,
)
from hubactors.cache import open_cache
from hubactors.config import DeploymentConfig, HubConfig, coerce_config
from hubactors.deployment import (
    Admit,
    DeploymentClient,
    DeploymentState,
    ProviderActor,
    fail_unserved,
)
from hubactors.errors import AttemptError, HubClosedError, HubError, scrub_exception
from hubactors.hub._driver import RequestDriver
from hubactors.hub._event_stream import EventStream
from hubactors.hub._metrics import HubMetrics
from hubactors.model._convert import coerce_request
from hubactors.model._tokens import TokenEstimator
from hubactors.model._types import ChatRequest, ChatResponse
from hubactors.providers import ClientPool, create_provider
from hubactors.routing import DeploymentStatus, RouterActor, Select, StatusBoard
from hubactors.shared import SharedRedis, SharedState

HUB_INTENSITY = 3
HUB_PERIOD = 60.0


class Hub:
    """A running hub. Get one from :func:`open_hub`; it is closed when that block exits.

    All methods are safe to call from any number of tasks at once.
    """

    def __init__(
        self,
        config: HubConfig,
        driver: RequestDriver,
        board: StatusBoard,
        events: EventBus,
        metrics: HubMetrics,
        shared: SharedState | None = None,
    ) -> None:
        self.config = config
        self.events = events
        self.metrics = metrics
        self.shared = shared or SharedState(config)
        self._driver = driver
        self._board = board
        self._closed = False
        self._active = 0
        self._idle = trio.Event()
        self._idle.set()

    @property
    def closed(self) -> bool:
        """True once the hub stopped taking requests."""
        return self._closed

    def status(self) -> list[DeploymentStatus]:
        """The latest status snapshot of every deployment."""
        return self._board.all()

    @contextmanager
    def _serving(self, route: str) -> Iterator[None]:
        """Count one request in flight (for the drain on close) and its errors.

        This is where errors leave the hub (for a stream, also those raised while the
        caller iterates it): each one's whole cause/context chain is scrubbed of keys here.
        """
        if self._closed:
            raise HubClosedError("the hub is closed")
        self._active += 1
        if self._active == 1:
            self._idle = trio.Event()
        try:
            yield
        except BaseException as exc:
            scrub_exception(exc)
            if isinstance(exc, HubError):
                # The route is the caller's text when it names no route: the metrics count
                # it as "unknown", never as a label of its own.
                deployment = exc.deployment if isinstance(exc, AttemptError) else None
                self.metrics.observe_error(route, deployment, exc)
            raise
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def complete(self, request: ChatRequest | Mapping[str, Any]) -> ChatResponse:
        """Send a request and return the full response.

        ``request`` is a :class:`ChatRequest` or an OpenAI-shaped dict
        (``{"model": ..., "messages": [...]}``); ``model`` names a route (or a deployment).
        Retryable failures fail over to other deployments of the route within the request's
        deadline. Raises :class:`~hubactors.errors.InvalidRequestError` for bad input, the
        deployment's :class:`~hubactors.errors.ProviderError` when it alone was involved,
        :class:`~hubactors.errors.NoDeploymentAvailable` when several were and none served,
        and :class:`~hubactors.errors.HubClosedError` after close. Cancelling the caller
        cancels the upstream request at once.
        """
        try:
            chat = coerce_request(request)
        except HubError as exc:
            scrub_exception(exc)
            raise
        with self._serving(chat.model):
            self._check_budget(chat.model)
            response = await self._driver.complete(chat)
        self.metrics.observe_response(chat.model, response)
        self.shared.budgets.record(chat.model, response.deployment, response.cost)
        return response

    def _check_budget(self, route: str) -> None:
        """Refuse a request to a route whose spend budget is used up."""
        over = self.shared.budgets.refusal("route", route)
        if over is not None:
            raise over

    @asynccontextmanager
    async def stream(self, request: ChatRequest | Mapping[str, Any]) -> AsyncIterator[EventStream]:
        """Stream a response: ``async with hub.stream(req) as events: async for e in events``.

        Failures before the first content event fail over invisibly; after it, iteration
        raises :class:`~hubactors.errors.StreamInterruptedError` carrying the text delivered
        so far. Leaving the block early (or cancellation) closes the upstream request.
        """
        try:
            chat = coerce_request(request)
        except HubError as exc:
            scrub_exception(exc)
            raise
        started = trio.current_time()
        with self._serving(chat.model):
            self._check_budget(chat.model)
            async with self._driver.stream(chat) as events:
                yield events
        if events.finished:
            elapsed = trio.current_time() - started
            self.metrics.observe_served(
                chat.model, events.deployment, elapsed, events.usage, events.cost, events.cached
            )
            self.shared.budgets.record(chat.model, events.deployment, events.cost)

    def metrics_text(self) -> str:
        """The Prometheus text exposition of this hub's metrics (every metric is listed in
        ``docs/metrics.md``)."""
        return self.metrics.render().decode()

    def metrics_bytes(self) -> bytes:
        """:meth:`metrics_text` as UTF-8 bytes, ready to serve as ``/metrics``."""
        return self.metrics.render()

    async def drain(self, grace: float) -> None:
        """Stop taking requests and wait up to ``grace`` seconds for in-flight ones."""
        self._closed = True
        with trio.move_on_after(grace):
            await self._idle.wait()


def _log_event(event: object) -> None:
    if isinstance(event, ChildExited) and event.reason == "crash":
        logger.bind(supervisor=event.supervisor, child=event.child).warning(
            "actor crashed: {}: {}", event.error_type, event.error
        )
    elif isinstance(event, ChildRestarting):
        logger.bind(supervisor=event.supervisor, child=event.child).info(
            "restarting actor (restart {}, after {:.3f}s)", event.restart_count, event.delay
        )
    elif isinstance(event, SupervisorEscalated):
        logger.bind(supervisor=event.supervisor).error(
            "supervisor gave up after {} restarts in {}s: {}",
            event.restarts,
            event.period,
            event.error,
        )


def _build_state(
    deployment: DeploymentConfig,
    pool: ClientPool,
    board: StatusBoard,
    mailbox_size: int,
    metrics: HubMetrics,
    shared: SharedState,
) -> DeploymentState:
    """A deployment's state, its provider wired to its rate limiter's header feedback; its
    limits, breaker and budgets shared with other processes as the config says."""
    limiter = shared.limiter(deployment, trio.current_time())

    def on_headers(headers: Mapping[str, str]) -> None:
        limiter.update_from_headers(headers, trio.current_time())

    provider = create_provider(deployment, pool, on_headers=on_headers)
    mailbox: Mailbox[Admit] = Mailbox(deployment.name, mailbox_size)
    return DeploymentState.create(
        deployment,
        provider,
        board,
        mailbox,
        limiter=limiter,
        observer=metrics.deployment(deployment.name),
        shared_breaker=shared.breaker(deployment),
        budgets=shared.budgets or None,
    )


class _Tree:
    """Everything a running hub is made of, assembled before anything starts."""

    def __init__(
        self,
        cfg: HubConfig,
        pool: ClientPool,
        estimator: TokenEstimator | None,
        redis: SharedRedis | None = None,
    ) -> None:
        self.shared = SharedState(cfg, redis)
        self.events = EventBus()
        board = StatusBoard()
        routes = cfg.route_table()
        metrics = HubMetrics(board, routes)
        self.events.subscribe(metrics.on_event)
        self.events.subscribe(_log_event)
        self.states: dict[str, DeploymentState] = {}
        for dep in cfg.deployments:
            self.states[dep.name] = _build_state(
                dep, pool, board, cfg.mailbox_size, metrics, self.shared
            )
        router = RouterActor(routes, board, Mailbox("router", cfg.mailbox_size))
        sup = cfg.supervision
        backoff = Backoff(initial=sup.backoff_initial, maximum=sup.backoff_max)
        deployments = Supervisor(
            "deployments",
            [
                ChildSpec(id=name, start=ProviderActor(state).run)
                for name, state in self.states.items()
            ],
            strategy=RestartStrategy.ONE_FOR_ONE,
            intensity=sup.intensity,
            period=sup.period,
            backoff=backoff,
            events=self.events,
        )
        self.supervisor = Supervisor(
            "hub",
            [
                deployments.child_spec(id="deployments"),
                ChildSpec(id="router", start=router.run),
            ],
            strategy=RestartStrategy.REST_FOR_ONE,
            intensity=HUB_INTENSITY,
            period=HUB_PERIOD,
            backoff=backoff,
            events=self.events,
        )
        self.driver = RequestDriver(
            routes=routes,
            router=router.mailbox.ref,
            deployments={name: DeploymentClient(state) for name, state in self.states.items()},
            board=board,
            estimator=estimator,
            observer=metrics,
            cache=open_cache(cfg.cache, redis),
        )
        metrics.track_queues(self.driver.queues)
        metrics.track_redis(redis)
        self.hub = Hub(cfg, self.driver, board, self.events, metrics, self.shared)
        self.mailboxes: list[Mailbox[Select] | Mailbox[Admit]] = [router.mailbox]
        self.mailboxes += [state.mailbox for state in self.states.values()]

    async def aclose_providers(self) -> None:
        with trio.CancelScope(shield=True):
            for state in self.states.values():
                await state.provider.aclose()

    def close_mailboxes(self) -> None:
        """Every actor is stopped: answer what is still queued, so no caller waits in vain."""
        for mailbox in self.mailboxes:
            while True:
                try:
                    message = mailbox.receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                fail_unserved(message, HubClosedError("the hub closed before serving the request"))
            mailbox.close(drain=False)


@asynccontextmanager
async def open_hub(
    config: HubConfig | Mapping[str, Any] | str | os.PathLike[str],
    *,
    estimator: TokenEstimator | None = None,
) -> AsyncIterator[Hub]:
    """Start a hub from ``config`` (a :class:`HubConfig`, a dict or a TOML path).

    Raises :class:`~hubactors.errors.ConfigError` for a bad config (or a missing API-key
    variable) before anything starts. On exit the hub stops taking requests, waits up to
    ``shutdown_grace`` seconds for in-flight ones, stops every actor in reverse start order,
    and closes every connection. If the supervision tree gives up, the block is cancelled
    and the escalation is raised.

    ``estimator`` replaces the heuristic that sizes requests for TPM limits and cost-aware
    routing (any object with ``estimate(request) -> int``). Each route's ``retry`` settings
    say how it backs off between rounds of failover.
    """
    cfg = coerce_config(dict(config) if isinstance(config, Mapping) else config)
    pool = ClientPool()
    try:
        async with AsyncExitStack() as stack:
            redis = (
                await stack.enter_async_context(SharedRedis.open(cfg.redis))
                if cfg.uses_redis
                else None
            )
            tree = _Tree(cfg, pool, estimator, redis)
            try:
                async with _running(tree, cfg.shutdown_grace) as hub:
                    yield hub
            finally:
                await tree.aclose_providers()
    finally:
        await pool.aclose()


@asynccontextmanager
async def _running(tree: _Tree, grace: float) -> AsyncIterator[Hub]:
    """Run the supervision tree and the driver's wake-ups around the caller's block, then
    drain, stop and close everything; the escalation of a tree that gave up is raised."""
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(tree.shared.run)
            await nursery.start(tree.supervisor.run)
            nursery.start_soon(tree.driver.run_wakeups)
            try:
                yield tree.hub
            finally:
                with trio.CancelScope(shield=True):
                    await tree.hub.drain(grace)
                    tree.driver.close()
                    with trio.move_on_after(grace + 1.0):
                        await tree.supervisor.shutdown()
                    tree.close_mailboxes()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # One failure (the caller's own, or an escalation) is raised as itself.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
