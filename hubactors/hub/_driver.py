"""The request driver: runs in the caller's task and carries one request to its answer.

It asks the router for a deployment, sends the request to that deployment's actor and, on
a retryable error, asks again with the failed deployment left out -- failover first, then,
once every deployment was tried, retries after a backoff -- all within the request's total
deadline. When every deployment of the route is at a limit it waits in the route's queue
(by priority, then deadline) instead of failing. A route with ``hedge_after`` sends a second
copy to another deployment when the first is slow to answer, and keeps whichever answers
first. The router keeps no per-request state; everything about one request lives here, on
the caller's stack, so cancelling the caller cancels all of it.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

import msgspec
import trio

from hubactors.actors import ActorRef, ActorStoppedError, AskTimeoutError
from hubactors.config import RouteConfig
from hubactors.deployment._actor import CompleteCall, ProviderCall
from hubactors.errors import (
    HubClosedError,
    NoDeploymentAvailable,
    ProviderError,
    RateLimitError,
    TotalTimeoutError,
)
from hubactors.hub._event_stream import EventStream
from hubactors.hub._hedge import Hedge, race
from hubactors.model._tokens import TokenEstimator, estimate_output_tokens
from hubactors.model._types import ChatRequest, ChatResponse
from hubactors.resilience import RequestQueue, RetryPolicy
from hubactors.routing import RequestInfo, StatusBoard
from hubactors.routing._router import (
    Busy,
    Choice,
    Select,
    Selection,
    Unavailable,
    route_named,
)

__all__ = ["HEDGE_EWMA_FACTOR", "EventStream", "RequestDriver"]

T = TypeVar("T")

HEDGE_EWMA_FACTOR = 2.0
"""With ``hedge_after = 0`` a route hedges after this many times the first deployment's
moving-average time to first token (streams) or latency (completions): a cheap stand-in for
the tail of its latency distribution."""


@dataclass
class _Attempts:
    """What one request has tried so far, for failover and for the final error."""

    route: str
    deadline: float
    count: int = 0
    tried: set[str] = field(default_factory=set)
    history: list[tuple[str, str]] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    retry_at: float | None = None
    """When the deployments in ``tried`` may be tried again (the retry backoff's end)."""

    def failed(self, deployment: str, error: ProviderError) -> None:
        self.tried.add(deployment)
        self.history.append((deployment, f"{type(error).__name__}: {error.message}"))
        self.errors.append(error)

    def give_up(self, skipped: Sequence[tuple[str, str]] = ()) -> NoReturn:
        """Raise the error that ends the request.

        With one deployment involved, its own error (the caller learns exactly what went
        wrong); with several, :class:`NoDeploymentAvailable` listing each try and skip,
        caused by the last error.
        """
        distinct = {name for name, _ in self.history}
        last = self.errors[-1]
        if len(distinct) == 1 and not skipped:
            last.add_note(f"after {self.count} attempt(s) on route {self.route!r}")
            raise last
        raise NoDeploymentAvailable(self.route, [*self.history, *skipped]) from last

    def timed_out(self) -> TotalTimeoutError:
        tried = ", ".join(name for name, _ in self.history) or "no deployment"
        return TotalTimeoutError(
            f"the request's deadline passed after {self.count} attempt(s) ({tried})"
        )


def _reserved_tokens(request: ChatRequest, info: RequestInfo) -> int:
    """Tokens a request reserves against TPM limits before it is sent (as providers count
    them: the prompt plus the output it may produce); settled with the real usage after."""
    return info.estimated_input_tokens + estimate_output_tokens(request)


class RequestDriver:
    """Carries requests through router and provider actors; one per hub, shared by callers.

    :meth:`run_wakeups` must run (in the hub's nursery) for queued requests to be woken;
    :meth:`close` ends every wait with :class:`~hubactors.errors.HubClosedError`.
    """

    def __init__(
        self,
        *,
        routes: Mapping[str, RouteConfig],
        router: ActorRef[Select],
        deployments: Mapping[str, ActorRef[ProviderCall]],
        board: StatusBoard,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        estimator: TokenEstimator | None = None,
    ) -> None:
        self._routes = routes
        self._router = router
        self._deployments = deployments
        self._board = board
        self._estimator = estimator
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._queues = {name: RequestQueue(route.queue_size) for name, route in routes.items()}
        # Set when a request starts to queue: until then status changes wake nobody, so
        # the wake-up task sleeps instead of running on every publish (the hot path).
        self._queued = trio.Event()
        self._timers: list[float] = []
        self._timer_scope: trio.CancelScope | None = None
        self._waits: set[trio.CancelScope] = set()
        self._closed = False

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
    def _waiting(self, deadline: float) -> Iterator[None]:
        """A wait until ``deadline`` that :meth:`close` interrupts (then ``HubClosedError``)."""
        with trio.CancelScope(deadline=deadline) as scope:
            self._waits.add(scope)
            try:
                yield
            finally:
                self._waits.discard(scope)
        self._check_open()

    # --- choosing a deployment -------------------------------------------------------------

    def _deadline(self, request: ChatRequest, route: RouteConfig) -> float:
        if request.deadline is not None:
            return request.deadline
        timeout = request.timeout if request.timeout is not None else route.timeout
        return trio.current_time() + timeout

    def _route(self, request: ChatRequest) -> RouteConfig:
        return route_named(self._routes, request.model)

    def _max_attempts(self, route: RouteConfig) -> int:
        if route.max_attempts is not None:
            return route.max_attempts
        return len(route.deployments) + 2

    async def _select(
        self, route: RouteConfig, info: RequestInfo, exclude: set[str], attempts: _Attempts
    ) -> Selection:
        self._check_open()
        frozen = frozenset(exclude)
        try:
            return await self._router.ask(
                lambda reply: Select(route.name, info, frozen, reply), deadline=attempts.deadline
            )
        except AskTimeoutError:
            raise attempts.timed_out() from None
        except ActorStoppedError:
            raise HubClosedError("the hub closed before the request could be served") from None

    async def _choose(
        self, request: ChatRequest, info: RequestInfo, attempts: _Attempts, route: RouteConfig
    ) -> str:
        """The next deployment to try; waits in the queue or backs off as needed."""
        queue = self._queues[route.name]
        while True:
            if attempts.retry_at is not None and trio.current_time() >= attempts.retry_at:
                attempts.tried.clear()
                attempts.retry_at = None
            # Read before asking, so a change while the router looks is not missed.
            version = self._board.version
            selection = await self._select(route, info, attempts.tried, attempts)
            if isinstance(selection, Choice):
                return selection.deployment
            if isinstance(selection, Busy):
                if not selection.slots_full and selection.retry_at >= attempts.deadline:
                    raise RateLimitError(
                        f"deadline cannot be met: route {route.name!r} is at its rate limits "
                        f"for {selection.retry_at - trio.current_time():.3g}s more",
                        retryable=False,
                        retry_after=selection.retry_at - trio.current_time(),
                    )
                if self._board.version != version:
                    continue  # something changed while the router looked: look again
                self._wake_at(selection.retry_at)
                self._queued.set()
                with self._waiting(math.inf):
                    await queue.wait_turn(request.priority, attempts.deadline)
                continue
            assert isinstance(selection, Unavailable)
            wake = self._wake_time(selection, attempts, route)
            # A status change (an actor back up, a breaker half-open) ends the wait early.
            with self._waiting(wake):
                await self._board.wait_for_change(version)

    def _wake_time(self, selection: Unavailable, attempts: _Attempts, route: RouteConfig) -> float:
        """When to look again after every deployment not yet tried is unavailable.

        The ones tried already may be retried after the retry policy's backoff (which
        honours a Retry-After); the others once their cooldown ends or their actor is back.
        Gives up (raises) when none of that can happen before the deadline.
        """
        now = trio.current_time()
        if attempts.errors and attempts.tried and attempts.retry_at is None:
            policy = msgspec.structs.replace(self._retry, max_attempts=self._max_attempts(route))
            delay = policy.delay_before(
                attempts.count + 1, attempts.errors[-1], now, attempts.deadline, self._rng
            )
            # No retry of those (too late, or asked to stay away too long): maybe others.
            attempts.retry_at = math.inf if delay is None else now + delay
        wake = selection.retry_at
        if attempts.retry_at is not None:
            wake = min(wake, attempts.retry_at)
        if now >= attempts.deadline or (wake >= attempts.deadline and not selection.restarting):
            if attempts.errors:
                attempts.give_up(selection.skipped)
            raise NoDeploymentAvailable(route.name, selection.skipped)
        return min(wake, attempts.deadline)

    # --- attempts ---------------------------------------------------------------------------

    async def _serve(
        self,
        request: ChatRequest,
        route: RouteConfig,
        info: RequestInfo,
        attempt: Callable[[str, _Attempts], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]],
    ) -> tuple[T, _Attempts]:
        """Run attempts until one succeeds; failover, backoff, hedging and the deadline."""
        attempts = _Attempts(route.name, self._deadline(request, route))
        limit = self._max_attempts(route)
        while True:
            name = await self._choose(request, info, attempts, route)
            try:
                if route.hedge_after is None or attempts.count + 1 >= limit:
                    attempts.count += 1
                    try:
                        return await attempt(name, attempts), attempts
                    except ProviderError as exc:
                        attempts.failed(name, exc)
                        raise
                value = await self._hedged(name, request, info, attempts, route, attempt, discard)
                return value, attempts
            except ProviderError as exc:
                if trio.current_time() >= attempts.deadline:
                    raise attempts.timed_out() from exc
                if not exc.retryable or attempts.count >= limit:
                    attempts.give_up()

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
        attempts: _Attempts,
        route: RouteConfig,
        attempt: Callable[[str, _Attempts], Awaitable[T]],
        discard: Callable[[T], Awaitable[None]],
    ) -> T:
        """Attempt ``first``, and another deployment too if it is slow (see ``_hedge``)."""
        limit = self._max_attempts(route)

        async def second(running: set[str]) -> str | None:
            if attempts.count >= limit:
                return None
            selection = await self._select(route, info, attempts.tried | running, attempts)
            # A hedge never waits: a deployment free right now, or none.
            return selection.deployment if isinstance(selection, Choice) else None

        def launched(_: str) -> None:
            attempts.count += 1

        async def attempt_here(name: str) -> T:
            return await attempt(name, attempts)

        hedge = Hedge(attempt_here, discard, second, launched, attempts.failed)
        return await race(first, self._hedge_delay(route, first, request.stream), hedge)

    # --- complete and stream -------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Serve a non-streaming request; see :meth:`Hub.complete`."""
        route = self._route(request)
        request = msgspec.structs.replace(request, stream=False) if request.stream else request
        started = trio.current_time()
        info = RequestInfo.from_request(request, self._estimator)
        estimated = _reserved_tokens(request, info)

        async def attempt(name: str, attempts: _Attempts) -> ChatResponse:
            try:
                return await self._deployments[name].ask(
                    lambda reply: CompleteCall(request, estimated, attempts.deadline, reply),
                    deadline=attempts.deadline,
                )
            except AskTimeoutError:
                raise attempts.timed_out() from None
            except ActorStoppedError:
                raise HubClosedError("the hub closed while serving the request") from None

        async def discard(_: ChatResponse) -> None:
            await trio.lowlevel.checkpoint()

        response, attempts = await self._serve(request, route, info, attempt, discard)
        return msgspec.structs.replace(
            response, attempts=attempts.count, latency=trio.current_time() - started
        )

    @asynccontextmanager
    async def stream(self, request: ChatRequest) -> AsyncIterator[EventStream]:
        """Serve a streaming request; see :meth:`Hub.stream`."""
        route = self._route(request)
        request = request if request.stream else msgspec.structs.replace(request, stream=True)
        info = RequestInfo.from_request(request, self._estimator)
        estimated = _reserved_tokens(request, info)

        async def attempt(name: str, attempts: _Attempts) -> EventStream:
            events = EventStream(name, attempts.deadline)
            try:
                await events.open(self._deployments[name], request, estimated)
            except BaseException:
                events.close()
                raise
            return events

        async def discard(events: EventStream) -> None:
            await events.aclose()

        events, _ = await self._serve(request, route, info, attempt, discard)
        try:
            yield events
        finally:
            await events.aclose()
