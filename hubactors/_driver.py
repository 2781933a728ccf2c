"""The request driver: runs in the caller's task and carries one request to its answer.

It asks the router for a deployment, sends the request to that deployment's actor and, on
a retryable error, asks again with the failed deployment left out -- failover and retries
within the request's total deadline. When every deployment of the route is at a limit it
waits in the route's queue (by priority, then deadline) instead of failing. The router
keeps no per-request state; everything about one request lives here, on the caller's stack,
so cancelling the caller cancels all of it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NoReturn

import msgspec
import trio

from hubactors._types import (
    CONTENT_EVENTS,
    ChatRequest,
    ChatResponse,
    Finish,
    StreamEvent,
    TextDelta,
)
from hubactors.actors import ActorRef, AskTimeoutError, Reply
from hubactors.config import RouteConfig
from hubactors.errors import (
    InvalidRequestError,
    NoDeploymentAvailable,
    ProviderError,
    StreamInterruptedError,
    TotalTimeoutError,
)
from hubactors.providers._actor import CompleteCall, ProviderCall, StreamCall
from hubactors.resilience import RequestQueue, RetryPolicy
from hubactors.routing import RequestInfo, StatusBoard
from hubactors.routing._router import Busy, Choice, Select, Selection, Unavailable

STREAM_BUFFER = 64
"""Events buffered between a provider actor and a slow reader before upstream reads pause."""


@dataclass
class _Attempts:
    """What one request has tried so far, for failover and for the final error."""

    route: str
    deadline: float
    count: int = 0
    tried: set[str] = field(default_factory=set)
    history: list[tuple[str, str]] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)

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


class RequestDriver:
    """Carries requests through router and provider actors; one per hub, shared by callers."""

    def __init__(
        self,
        *,
        routes: Mapping[str, RouteConfig],
        router: ActorRef[Select],
        deployments: Mapping[str, ActorRef[ProviderCall]],
        board: StatusBoard,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._routes = routes
        self._router = router
        self._deployments = deployments
        self._board = board
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._queues = {name: RequestQueue(route.queue_size) for name, route in routes.items()}

    def wake_queues(self) -> None:
        """Let the first queued request of every route look again (a slot may have freed)."""
        for queue in self._queues.values():
            if len(queue):
                queue.wake(1)

    def _deadline(self, request: ChatRequest, route: RouteConfig) -> float:
        if request.deadline is not None:
            return request.deadline
        timeout = request.timeout if request.timeout is not None else route.timeout
        return trio.current_time() + timeout

    def _route(self, request: ChatRequest) -> RouteConfig:
        route = self._routes.get(request.model)
        if route is None:
            known = ", ".join(sorted(self._routes)) or "none"
            raise InvalidRequestError(
                f"unknown model/route {request.model!r} (known: {known})", field="model"
            )
        return route

    def _max_attempts(self, route: RouteConfig) -> int:
        if route.max_attempts is not None:
            return route.max_attempts
        return len(route.deployments) + 2

    async def _choose(
        self, request: ChatRequest, info: RequestInfo, attempts: _Attempts, route: RouteConfig
    ) -> str:
        """The next deployment to try; waits in the queue or backs off as needed."""
        while True:
            exclude = frozenset(attempts.tried)
            selection: Selection = await self._router.ask(
                lambda reply, ex=exclude: Select(route.name, info, ex, reply),
                deadline=attempts.deadline,
            )
            if isinstance(selection, Choice):
                return selection.deployment
            if isinstance(selection, Busy):
                with trio.move_on_at(min(selection.retry_at, attempts.deadline)):
                    await self._queues[route.name].wait_turn(request.priority, attempts.deadline)
                continue
            assert isinstance(selection, Unavailable)
            wake = self._wake_time(selection, attempts, route)
            if wake is None:
                if attempts.errors:
                    attempts.give_up(selection.skipped)
                raise NoDeploymentAvailable(route.name, selection.skipped)
            # A status change (an actor back up, a breaker half-open) ends the wait early.
            version = self._board.version
            with trio.move_on_at(wake):
                await self._board.wait_for_change(version)
            attempts.tried.clear()

    def _wake_time(
        self, selection: Unavailable, attempts: _Attempts, route: RouteConfig
    ) -> float | None:
        """When to look again after every deployment failed or was skipped, or ``None``
        to give up (attempts spent, error not retryable, or the deadline would pass)."""
        now = trio.current_time()
        if attempts.errors:
            policy = msgspec.structs.replace(self._retry, max_attempts=self._max_attempts(route))
            delay = policy.delay_before(
                attempts.count + 1, attempts.errors[-1], now, attempts.deadline, self._rng
            )
            if delay is None:
                return None
            wake = now + delay
        else:
            wake = selection.retry_at
        # A cooldown that ends sooner, or an actor that is merely restarting, is worth a look.
        wake = min(wake, max(now, selection.retry_at))
        return wake if wake < attempts.deadline else None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Serve a non-streaming request; see :meth:`Hub.complete`."""
        route = self._route(request)
        request = msgspec.structs.replace(request, stream=False) if request.stream else request
        started = trio.current_time()
        attempts = _Attempts(route.name, self._deadline(request, route))
        info = RequestInfo.from_request(request)
        limit = self._max_attempts(route)
        while True:
            name = await self._choose(request, info, attempts, route)
            attempts.count += 1
            try:
                response = await self._deployments[name].ask(
                    lambda reply: CompleteCall(
                        request, info.estimated_input_tokens, attempts.deadline, reply
                    ),
                    deadline=attempts.deadline,
                )
            except AskTimeoutError:
                raise self._timed_out(attempts) from None
            except ProviderError as exc:
                attempts.failed(name, exc)
                if not exc.retryable or attempts.count >= limit:
                    attempts.give_up()
                continue
            finally:
                self.wake_queues()
            return msgspec.structs.replace(
                response, attempts=attempts.count, latency=trio.current_time() - started
            )

    def _timed_out(self, attempts: _Attempts) -> TotalTimeoutError:
        tried = ", ".join(name for name, _ in attempts.history) or "no deployment"
        return TotalTimeoutError(
            f"the request's deadline passed after {attempts.count} attempt(s) ({tried})"
        )

    @asynccontextmanager
    async def stream(self, request: ChatRequest) -> AsyncIterator[EventStream]:
        """Serve a streaming request; see :meth:`Hub.stream`."""
        route = self._route(request)
        request = request if request.stream else msgspec.structs.replace(request, stream=True)
        attempts = _Attempts(route.name, self._deadline(request, route))
        info = RequestInfo.from_request(request)
        limit = self._max_attempts(route)
        while True:
            name = await self._choose(request, info, attempts, route)
            attempts.count += 1
            events = EventStream(name, attempts.deadline)
            try:
                await events.open(self._deployments[name], request, info.estimated_input_tokens)
            except ProviderError as exc:
                await events.aclose()
                attempts.failed(name, exc)
                if not exc.retryable or attempts.count >= limit:
                    attempts.give_up()
                continue
            except BaseException:
                await events.aclose()
                raise
            finally:
                self.wake_queues()
            break
        try:
            yield events
        finally:
            await events.aclose()
            self.wake_queues()


class EventStream:
    """The events of one streamed response, as an async iterator.

    Before the first content event the driver may still fail over, so by the time the
    caller sees this object the stream has produced content (or finished). A failure after
    that raises :class:`~hubactors.errors.StreamInterruptedError` carrying the text
    delivered so far; a stream that ends without its terminal ``Finish`` does too.
    """

    def __init__(self, deployment: str, deadline: float) -> None:
        self.deployment = deployment
        self._deadline = deadline
        self._reply: Reply[None] = Reply()
        self._receive: trio.MemoryReceiveChannel[StreamEvent] | None = None
        self._buffer: list[StreamEvent] = []
        self._text: list[str] = []
        self._finished = False
        self._closed = False

    async def open(
        self, actor: ActorRef[ProviderCall], request: ChatRequest, estimated_tokens: int
    ) -> None:
        """Start the stream and read up to its first content event (or its end)."""
        send, receive = trio.open_memory_channel[StreamEvent](STREAM_BUFFER)
        self._receive = receive
        with trio.move_on_at(self._deadline) as scope:
            await actor.tell(
                StreamCall(request, estimated_tokens, self._deadline, send, self._reply)
            )
            async for event in receive:
                self._buffer.append(event)
                if isinstance(event, (*CONTENT_EVENTS, Finish)):
                    return
            await self._ended()
        if scope.cancelled_caught:
            raise TotalTimeoutError(
                "no first token before the request's deadline", deployment=self.deployment
            )

    async def _ended(self) -> None:
        """The channel closed: raise what the actor reported, or an interruption."""
        await self._reply.wait()
        if not self._finished and not any(isinstance(e, Finish) for e in self._buffer):
            raise StreamInterruptedError(
                "the stream ended without its terminal event",
                deployment=self.deployment,
                partial_text="".join(self._text),
            )

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._buffer:
            event = self._buffer.pop(0)
        elif self._finished or self._closed or self._receive is None:
            raise StopAsyncIteration
        else:
            try:
                with trio.fail_at(self._deadline):
                    event = await self._receive.receive()
            except trio.EndOfChannel:
                await self._end_of_stream()
                raise StopAsyncIteration from None
            except trio.TooSlowError:
                raise StreamInterruptedError(
                    "the request's deadline passed mid-stream",
                    deployment=self.deployment,
                    partial_text="".join(self._text),
                ) from None
        if isinstance(event, Finish):
            self._finished = True
        elif isinstance(event, TextDelta):
            self._text.append(event.text)
        return event

    async def _end_of_stream(self) -> None:
        try:
            await self._reply.wait()
        except StreamInterruptedError:
            raise
        except ProviderError as exc:
            raise StreamInterruptedError(
                f"the stream failed after content was delivered: {exc.message}",
                deployment=self.deployment,
                status=exc.status,
                retryable=False,
                partial_text="".join(self._text),
            ) from exc
        if not self._finished:
            raise StreamInterruptedError(
                "the stream ended without its terminal event",
                deployment=self.deployment,
                retryable=False,
                partial_text="".join(self._text),
            )

    async def aclose(self) -> None:
        """Stop the stream: the deployment's upstream request is closed at once."""
        if self._closed:
            return
        self._closed = True
        if not self._reply.done:
            self._reply.abandon()
        if self._receive is not None:
            await self._receive.aclose()
