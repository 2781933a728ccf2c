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
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

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
from hubactors.config import DeploymentConfig, HubConfig, coerce_config
from hubactors.deployment._actor import (
    DeploymentState,
    ProviderActor,
    ProviderCall,
    fail_unserved,
)
from hubactors.errors import HubClosedError, HubError, ProviderError
from hubactors.hub._driver import EventStream, RequestDriver
from hubactors.hub._metrics import HubMetrics
from hubactors.model._convert import coerce_request
from hubactors.model._tokens import TokenEstimator
from hubactors.model._types import ChatRequest, ChatResponse
from hubactors.providers._base import Provider
from hubactors.providers._catalog import capabilities_for, pricing_for

if TYPE_CHECKING:
    from hubactors.providers._transport import ClientPool
from hubactors.providers.simulated import SimulatedProvider
from hubactors.resilience import RetryPolicy
from hubactors.routing import DeploymentStatus, StatusBoard
from hubactors.routing._router import RouterActor, Select

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
    ) -> None:
        self.config = config
        self.events = events
        self.metrics = metrics
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
        """Count one request in flight (for the drain on close) and its errors."""
        if self._closed:
            raise HubClosedError("the hub is closed")
        self._active += 1
        if self._active == 1:
            self._idle = trio.Event()
        try:
            yield
        except ProviderError as exc:
            self.metrics.observe_error(route, exc.deployment, exc)
            raise
        except HubError as exc:
            self.metrics.observe_error(route, None, exc)
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
        chat = coerce_request(request)
        with self._serving(chat.model):
            response = await self._driver.complete(chat)
        self.metrics.observe_response(chat.model, response)
        return response

    @asynccontextmanager
    async def stream(self, request: ChatRequest | Mapping[str, Any]) -> AsyncIterator[EventStream]:
        """Stream a response: ``async with hub.stream(req) as events: async for e in events``.

        Failures before the first content event fail over invisibly; after it, iteration
        raises :class:`~hubactors.errors.StreamInterruptedError` carrying the text delivered
        so far. Leaving the block early (or cancellation) closes the upstream request.
        """
        chat = coerce_request(request)
        started = trio.current_time()
        with self._serving(chat.model):
            async with self._driver.stream(chat) as events:
                yield events
        if events.finished:
            elapsed = trio.current_time() - started
            self.metrics.observe_served(
                chat.model, events.deployment, elapsed, events.usage, events.cost
            )

    def metrics_text(self) -> bytes:
        """Prometheus text exposition of this hub's metrics."""
        return self.metrics.render()

    async def drain(self, grace: float) -> None:
        """Stop taking requests and wait up to ``grace`` seconds for in-flight ones."""
        self._closed = True
        with trio.move_on_after(grace):
            await self._idle.wait()


def _build_provider(
    deployment: DeploymentConfig, pool: ClientPool, states: dict[str, DeploymentState]
) -> Provider:
    if deployment.provider == "simulated":
        return SimulatedProvider(deployment)
    from hubactors.providers._registry import create_http_provider

    def on_headers(headers: Mapping[str, str]) -> None:
        state = states.get(deployment.name)
        if state is not None:
            state.limiter.update_from_headers(headers, trio.current_time())

    return create_http_provider(
        deployment,
        pool,
        pricing=pricing_for(deployment),
        capabilities=capabilities_for(deployment),
        on_headers=on_headers,
    )


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


@asynccontextmanager
async def open_hub(
    config: HubConfig | Mapping[str, Any] | str | os.PathLike[str],
    *,
    retry: RetryPolicy | None = None,
    estimator: TokenEstimator | None = None,
) -> AsyncIterator[Hub]:
    """Start a hub from ``config`` (a :class:`HubConfig`, a dict or a TOML path).

    Raises :class:`~hubactors.errors.ConfigError` for a bad config (or a missing API-key
    variable) before anything starts. On exit the hub stops taking requests, waits up to
    ``shutdown_grace`` seconds for in-flight ones, stops every actor in reverse start order,
    and closes every connection. If the supervision tree gives up, the block is cancelled
    and the escalation is raised.

    ``retry`` sets the backoff between rounds of failover; ``estimator`` replaces the
    heuristic that sizes requests for TPM limits and cost-aware routing (any object with
    ``estimate(request) -> int``).
    """
    cfg = coerce_config(dict(config) if isinstance(config, Mapping) else config)
    events = EventBus()
    board = StatusBoard()
    metrics = HubMetrics(board)
    events.subscribe(metrics.on_event)
    events.subscribe(_log_event)
    from hubactors.providers._transport import ClientPool

    pool = ClientPool()
    states: dict[str, DeploymentState] = {}
    providers: list[Provider] = []
    try:
        for dep in cfg.deployments:
            provider = _build_provider(dep, pool, states)
            providers.append(provider)
            mailbox: Mailbox[ProviderCall] = Mailbox(dep.name, cfg.mailbox_size)
            states[dep.name] = DeploymentState.create(dep, provider, board, mailbox)
        routes = cfg.route_table()
        router = RouterActor(routes, board, Mailbox("router", cfg.mailbox_size))
        sup = cfg.supervision
        deployments = Supervisor(
            "deployments",
            [ChildSpec(id=name, start=ProviderActor(state).run) for name, state in states.items()],
            strategy=RestartStrategy.ONE_FOR_ONE,
            intensity=sup.intensity,
            period=sup.period,
            backoff=Backoff(initial=sup.backoff_initial, maximum=sup.backoff_max),
            events=events,
        )
        hub_supervisor = Supervisor(
            "hub",
            [
                ChildSpec(id="deployments", start=deployments.run),
                ChildSpec(id="router", start=router.run),
            ],
            strategy=RestartStrategy.REST_FOR_ONE,
            intensity=HUB_INTENSITY,
            period=HUB_PERIOD,
            backoff=Backoff(initial=sup.backoff_initial, maximum=sup.backoff_max),
            events=events,
        )
        driver = RequestDriver(
            routes=routes,
            router=router.mailbox.ref,
            deployments={name: state.mailbox.ref for name, state in states.items()},
            board=board,
            retry=retry,
            estimator=estimator,
        )
        hub = Hub(cfg, driver, board, events, metrics)
        mailboxes: list[Mailbox[Select] | Mailbox[ProviderCall]] = [router.mailbox]
        mailboxes += [state.mailbox for state in states.values()]
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(hub_supervisor.run)
                nursery.start_soon(driver.run_wakeups)
                try:
                    yield hub
                finally:
                    with trio.CancelScope(shield=True):
                        await hub.drain(cfg.shutdown_grace)
                        driver.close()
                        with trio.move_on_after(cfg.shutdown_grace + 1.0):
                            await hub_supervisor.shutdown()
                        _close_mailboxes(mailboxes)
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # One failure (the caller's own, or an escalation) is raised as itself.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    finally:
        with trio.CancelScope(shield=True):
            for provider in providers:
                await provider.aclose()
            await pool.aclose()


def _close_mailboxes(mailboxes: list[Mailbox[Select] | Mailbox[ProviderCall]]) -> None:
    """Every actor is stopped: answer what is still queued, so no caller waits in vain."""
    for mailbox in mailboxes:
        while True:
            try:
                message = mailbox.receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            fail_unserved(message, HubClosedError("the hub closed before serving the request"))
        mailbox.close(drain=False)
