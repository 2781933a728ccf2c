"""The request driver: runs in the caller's task and carries one request to its answer.

It asks the router for a deployment and lets the request's :class:`AttemptPlan` decide what
to do with the answer: try that deployment (under a lease from its actor, in this task), wait
in the route's queue (every deployment at a limit), or wait for a status change (nothing can
serve yet). A route with ``hedge_after`` sends a second copy to another deployment when the
first is slow to answer, and keeps whichever answers first. The router keeps no per-request
state; everything about one request lives here, on the caller's stack, so cancelling the
caller cancels all of it.

One deadline: the request's, as the cancel scope around everything it does; the layers
below only bind to it. When it passes, the request raises
:class:`~hubactors.errors.TotalTimeoutError` (:meth:`AttemptPlan.timed_out`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import msgspec
import trio

from hubactors.actors import ActorRef, ActorStoppedError
from hubactors.cache import (
    CacheEntry,
    Claim,
    ReplayStream,
    ResponseCache,
    entry_of_response,
    entry_of_stream,
)
from hubactors.config import RouteConfig
from hubactors.deployment import DeploymentClient
from hubactors.errors import AttemptError, HubClosedError
from hubactors.hub._event_stream import EventStream
from hubactors.hub._hedge import Hedge, race
from hubactors.hub._plan import AttemptPlan, AttemptRecord, Queue, Try
from hubactors.hub._request_log import RequestLog
from hubactors.model._tokens import TokenEstimator
from hubactors.model._types import ChatRequest, ChatResponse
from hubactors.resilience import RequestQueue, RetryPolicy
from hubactors.routing import Choice, RequestInfo, Select, Selection, StatusBoard, route_named

__all__ = ["HEDGE_EWMA_FACTOR", "RequestDriver", "RequestObserver"]

T = TypeVar("T")

HEDGE_EWMA_FACTOR = 2.0
"""With ``hedge_after = 0`` a route hedges after this many times the first deployment's
moving-average time to first token (streams) or latency (completions): a cheap stand-in for
the tail of its latency distribution."""


class RequestObserver:
    """What the driver reports about requests as they go; every method does nothing here
    (the hub's metrics override them). Called in the caller's task, it must not await or
    raise. ``route`` is always the name of a configured route."""

    __slots__ = ()

    def retrying(self, route: str, failed: AttemptRecord, deployment: str) -> None:
        """An attempt on ``deployment`` starts after the attempt ``failed`` failed (a
        failover when it was on another deployment)."""

    def hedge_sent(self, route: str) -> None:
        """A second copy of a slow request was sent to another deployment."""

    def hedge_won(self, route: str) -> None:
        """That second copy answered first."""

    def queued(self, route: str, seconds: float) -> None:
        """A request waited ``seconds`` in its route's queue, all its turns together
        (reported once, when it is done, and only for requests that queued)."""

    def attempts(self, route: str, count: int) -> None:
        """A request is done with attempts (answered, failed or cancelled) after ``count``."""

    def first_token(self, route: str, deployment: str, seconds: float) -> None:
        """A stream served by ``deployment`` reached its first content ``seconds`` after
        the request started."""

    def cache_lookup(self, route: str, hit: bool) -> None:
        """The response cache was looked up for a request: answered from it, or not."""


_NO_OBSERVER = RequestObserver()


class RequestDriver:
    """Carries requests through the router and the deployments; one per hub, shared by
    every caller.

    :meth:`run_wakeups` must run (in the hub's nursery) for queued requests to be woken;
    :meth:`close` ends every wait with :class:`~hubactors.errors.HubClosedError`.
    """

    def __init__(
        self,
        *,
        routes: Mapping[str, RouteConfig],
        router: ActorRef[Select],
        deployments: Mapping[str, DeploymentClient],
        board: StatusBoard,
        rng: random.Random | None = None,
        estimator: TokenEstimator | None = None,
        observer: RequestObserver = _NO_OBSERVER,
        cache: ResponseCache | None = None,
    ) -> None:
        self._routes = routes
        self._cache = cache
        self._router = router
        self._deployments = deployments
        self._board = board
        self._estimator = estimator
        self._observer = observer
        self._rng = rng or random.Random()
        self._queues = {name: RequestQueue(route.queue_size) for name, route in routes.items()}
        # Set when a request starts to queue: until then status changes wake nobody, so
        # the wake-up task sleeps instead of running on every publish (the hot path).
        self._queued = trio.Event()
        self._timers: list[float] = []
        self._timer_scope: trio.CancelScope | None = None
        self._waits: set[trio.CancelScope] = set()
        self._closed = False

    @property
    def queues(self) -> Mapping[str, RequestQueue]:
        """Each route's queue, by route name (``len()`` is how many wait in it)."""
        return self._queues

    # --- waking and closing --------------------------------------------------------------

    def wake_queues(self) -> None:
        """Let the first queued request of every route look again (a slot may have freed)."""
        for queue in self._queues.values():
            queue.wake(1)

    def _wake_at(self, when: float) -> None:
        """Wake the queues at ``when`` (a local rate limit lifts then, with no publish)."""
        if math.isinf(when) or when in self._timers:
            return
        heapq.heappush(self._timers, when)
        if self._timer_scope is not None and when < self._timer_scope.deadline:
            self._timer_scope.deadline = when

    async def run_wakeups(self) -> None:
        """Wake queued requests on every status change and when a rate limit lifts, in
        queue order; runs until cancelled."""
        while True:
            if not self._timers and not any(len(queue) for queue in self._queues.values()):
                self._queued = trio.Event()
                await self._queued.wait()
            version = self._board.version
            deadline = self._timers[0] if self._timers else math.inf
            with trio.CancelScope(deadline=deadline) as self._timer_scope:
                await self._board.wait_for_change(version)
            self._timer_scope = None
            now = trio.current_time()
            while self._timers and self._timers[0] <= now:
                heapq.heappop(self._timers)
            self.wake_queues()

    def close(self) -> None:
        """Refuse new work: every waiting request raises ``HubClosedError`` at once."""
        self._closed = True
        for scope in list(self._waits):
            scope.cancel()

    def _check_open(self) -> None:
        if self._closed:
            raise HubClosedError("the hub closed before the request could be served")

    @contextmanager
    def _waiting(self, until: float = math.inf) -> Iterator[None]:
        """A wait until ``until`` that :meth:`close` interrupts (then ``HubClosedError``)."""
        with trio.CancelScope(deadline=until) as scope:
            self._waits.add(scope)
            try:
                yield
            finally:
                self._waits.discard(scope)
        self._check_open()

    # --- the plan ----------------------------------------------------------------------------

    def _plan(self, request: ChatRequest, route: RouteConfig, started: float) -> AttemptPlan:
        if request.deadline is not None:
            deadline = request.deadline
        else:
            deadline = started + (request.timeout if request.timeout is not None else route.timeout)
        max_attempts = route.max_attempts
        if max_attempts is None:
            max_attempts = len(route.deployments) + 2
        retry = RetryPolicy.for_route(route.retry, max_attempts)
        return AttemptPlan(route.name, deadline, retry, self._rng)

    async def _select(
        self, route: RouteConfig, info: RequestInfo, exclude: frozenset[str]
    ) -> Selection:
        self._check_open()
        try:
            return await self._router.ask(lambda reply: Select(route.name, info, exclude, reply))
        except ActorStoppedError:
            raise HubClosedError("the hub closed before the request could be served") from None

    async def _serve(
        self,
        request: ChatRequest,
        route: RouteConfig,
        info: RequestInfo,
        plan: AttemptPlan,
        log: RequestLog,
        attempt: Callable[[str], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]],
    ) -> T:
        """Carry out ``plan`` within the request's deadline: the one place it is enforced."""
        try:
            with trio.move_on_at(plan.deadline):
                return await self._follow(request, route, info, plan, log, attempt, discard)
            raise plan.timed_out()
        finally:
            self._observer.attempts(route.name, plan.count)

    async def _follow(
        self,
        request: ChatRequest,
        route: RouteConfig,
        info: RequestInfo,
        plan: AttemptPlan,
        log: RequestLog,
        attempt: Callable[[str], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]],
    ) -> T:
        queue = self._queues[route.name]

        async def timed(name: str) -> T:
            plan.started(name)
            started = trio.current_time()
            try:
                value = await attempt(name)
            except AttemptError as exc:
                plan.failed(name, exc, trio.current_time() - started)
                log.attempt(plan.records[-1])
                raise
            plan.succeeded(name, trio.current_time() - started)
            log.attempt(plan.records[-1])
            return value

        queued: float | None = None  # seconds in the queue, all turns together
        try:
            while True:
                # Read before asking, so a change while the router looks is not missed.
                version = self._board.version
                selection = await self._select(route, info, plan.exclude(trio.current_time()))
                action = plan.next(selection, trio.current_time())
                if isinstance(action, Try):
                    if plan.records:  # every earlier attempt failed, or it would have returned
                        self._observer.retrying(route.name, plan.records[-1], action.deployment)
                    try:
                        if route.hedge_after is None or not plan.may_hedge:
                            return await timed(action.deployment)
                        return await self._hedged(action.deployment, request, info, plan, route,
                                                  timed, discard)  # fmt: skip
                    except AttemptError as exc:
                        plan.check_failure(exc, trio.current_time())
                    continue
                if isinstance(action, Queue):
                    if self._board.version != version:
                        continue  # something changed while the router looked: look again
                    self._wake_at(action.wake_at)
                    self._queued.set()
                    queued_at = trio.current_time()
                    try:
                        with self._waiting():
                            await queue.wait_turn(request.priority, plan.deadline)
                    finally:
                        queued = (queued or 0.0) + trio.current_time() - queued_at
                    continue
                # A status change (an actor back up, a breaker half-open) ends the wait early.
                with self._waiting(action.until):
                    await self._board.wait_for_change(version)
        finally:
            if queued is not None:
                self._observer.queued(route.name, queued)

    def _hedge_delay(self, route: RouteConfig, first: str, stream: bool) -> float:
        """Seconds to wait for ``first`` before hedging (``inf``: do not hedge)."""
        if route.hedge_after is None:
            return math.inf
        if route.hedge_after > 0:
            return route.hedge_after
        status = self._board.get(first)
        measured = None if status is None else status.ewma_ttft if stream else status.ewma_latency
        return math.inf if measured is None else HEDGE_EWMA_FACTOR * measured

    async def _hedged(
        self,
        first: str,
        request: ChatRequest,
        info: RequestInfo,
        plan: AttemptPlan,
        route: RouteConfig,
        attempt: Callable[[str], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]],
    ) -> T:
        """Attempt ``first``, and another deployment too if it is slow (see ``_hedge``)."""

        async def second(running: set[str]) -> str | None:
            if not plan.may_hedge:
                return None
            selection = await self._select(route, info, frozenset(plan.tried | running))
            # A hedge never waits: a deployment free right now, or none.
            if not isinstance(selection, Choice):
                return None
            self._observer.hedge_sent(route.name)
            return selection.deployment

        def won(deployment: str) -> None:
            if deployment != first:
                self._observer.hedge_won(route.name)

        hedge = Hedge(attempt, discard, second, won)
        return await race(first, self._hedge_delay(route, first, request.stream), hedge)

    # --- complete and stream -------------------------------------------------------------------

    def _start(self, request: ChatRequest) -> tuple[RouteConfig, RequestInfo, AttemptPlan, int]:
        route = route_named(self._routes, request.model)
        info = RequestInfo.from_request(request, self._estimator)
        plan = self._plan(request, route, trio.current_time())
        # Reserved against TPM limits before sending (the prompt plus the output it may
        # produce, as providers count them); settled with the real usage after.
        reserved = info.estimated_input_tokens + info.estimated_output_tokens
        return route, info, plan, reserved

    def _claim(self, request: ChatRequest, route: RouteConfig) -> Claim | None:
        return None if self._cache is None else self._cache.claim_for(request, route)

    @asynccontextmanager
    async def _looked_up(
        self, route: RouteConfig, plan: AttemptPlan, claim: Claim | None
    ) -> AsyncIterator[CacheEntry | None]:
        """The cached answer of the request, or None: then it is served inside the block
        (identical requests wait for it, within their deadlines) and
        :meth:`ResponseCache.store` may keep it."""
        if claim is None or self._cache is None:
            yield None
            return
        async with self._cache.lookup(claim, plan.deadline) as entry:
            if claim.read:
                self._observer.cache_lookup(route.name, entry is not None)
            yield entry

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Serve a non-streaming request; see :meth:`Hub.complete`. A cached answer is
        returned with ``cached = True``, ``attempts = 0`` and no cost."""
        if request.stream:
            request = msgspec.structs.replace(request, stream=False)
        route, info, plan, reserved = self._start(request)
        log = RequestLog(request, plan)
        claim = self._claim(request, route)

        async def attempt(name: str) -> ChatResponse:
            return await self._deployments[name].complete(
                request, estimated_tokens=reserved, deadline=plan.deadline
            )

        async def discard(_: ChatResponse) -> None:
            await trio.lowlevel.checkpoint()

        with log.ends_request():
            async with self._looked_up(route, plan, claim) as entry:
                if entry is not None:
                    response = msgspec.structs.replace(
                        entry.response,
                        cached=True,
                        cost=0.0,
                        attempts=0,
                        latency=trio.current_time() - log.started,
                        request_id=log.request_id,
                    )
                else:
                    response = await self._serve(request, route, info, plan, log, attempt, discard)
                    response = msgspec.structs.replace(
                        response,
                        attempts=plan.count,
                        latency=trio.current_time() - log.started,
                        request_id=log.request_id,
                    )
                    if claim is not None and self._cache is not None:
                        await self._cache.store(claim, entry_of_response(response))
            log.served(response)
        return response

    @asynccontextmanager
    async def stream(self, request: ChatRequest) -> AsyncIterator[EventStream]:
        """Serve a streaming request; see :meth:`Hub.stream`."""
        if not request.stream:
            request = msgspec.structs.replace(request, stream=True)
        route, info, plan, reserved = self._start(request)
        log = RequestLog(request, plan)
        claim = self._claim(request, route)

        async def attempt(name: str) -> EventStream:
            upstream = await self._deployments[name].open_stream(
                request, estimated_tokens=reserved, deadline=plan.deadline
            )
            events = EventStream(upstream, plan.deadline, log.started)
            try:
                await events.open()
            except BaseException:
                await events.aclose()
                raise
            return events

        async def discard(events: EventStream) -> None:
            await events.aclose()

        with log.ends_request():
            async with self._looked_up(route, plan, claim) as entry:
                if entry is not None:
                    events = EventStream(
                        ReplayStream(entry), plan.deadline, log.started, cached=True
                    )
                    await events.open()
                else:
                    events = await self._serve(request, route, info, plan, log, attempt, discard)
                    if events.ttft is not None:
                        self._observer.first_token(route.name, events.deployment, events.ttft)
                    if claim is not None and claim.store:
                        events.recorded = []
                try:
                    yield events
                finally:
                    await events.aclose()
                    log.streamed(events)
                # Only a block that ended cleanly gets here; the entry is written only if
                # the stream also finished cleanly (read to its Finish, not cut short).
                if events.recorded is not None and claim is not None and self._cache is not None:
                    await self._cache.store(claim, entry_of_stream(events.recorded))
