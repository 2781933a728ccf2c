"""The provider actor: one per deployment, serving requests from its mailbox.

Each request runs as a task in the actor's nursery, bounded by the deployment's concurrency
cap, and goes through the deployment's circuit breaker and rate limiter before it reaches the
provider. Expected failures (HTTP errors, timeouts, 429s) are values: they become a typed
error reply. Anything else is a bug (or the simulated crash) and crashes the actor; its
supervisor restarts it and every in-flight caller gets a retryable
:class:`~hubactors.errors.DeploymentCrashedError` at once instead of hanging.

The limiter, breaker, health tracker and moving averages live in :class:`DeploymentState`,
which outlives restarts: a crash must not reset what the deployment's rate limits or health
look like.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec
import trio

from hubactors.deployment._state import (
    CompleteCall,
    DeploymentState,
    ProviderCall,
    StreamCall,
    close_events,
    fail_unserved,
)
from hubactors.errors import (
    CircuitOpenError,
    DeploymentCrashedError,
    FirstTokenTimeoutError,
    ProviderError,
    RateLimitError,
    StreamIdleTimeoutError,
    TotalTimeoutError,
)
from hubactors.model._types import (
    CONTENT_EVENTS,
    ChatResponse,
    Finish,
    StreamStart,
    Usage,
    UsageEvent,
)
from hubactors.resilience import (
    Reservation,
    counts_as_failure,
    run_health_loop,
)

__all__ = [
    "CompleteCall",
    "DeploymentState",
    "ProviderActor",
    "ProviderCall",
    "StreamCall",
    "fail_unserved",
]

T = TypeVar("T")

DEFAULT_RATE_LIMIT_COOLDOWN = 1.0
"""Seconds a deployment rests after a 429 that did not say how long to wait."""

OVERLOAD_STATUSES = frozenset({429, 503, 529})
"""HTTP statuses that mean "too much load": they lower an adaptive concurrency limit."""

Outcome = tuple[T, Usage, float]
"""What a call's work returns: its value, its usage, and its responsiveness in seconds (the
whole call for a completion, the time to first content for a stream), which the breaker's
slow-call check and the adaptive limit judge."""


class ProviderActor:
    """Runs one deployment: call :meth:`run` under a supervisor (it is restartable)."""

    def __init__(self, state: DeploymentState) -> None:
        self.state = state
        self._nursery: trio.Nursery | None = None
        self._publish_due: float | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the mailbox until cancelled; raises (crashes) only on a bug or simulated crash."""
        state = self.state
        slots = trio.CapacityLimiter(state.concurrency_limit)
        state.starts += 1
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if state.config.health.interval > 0:
                    nursery.start_soon(self._health_loop)
                self._publish_when_half_open()
                state.up = True
                state.publish()
                task_status.started()
                async for call in state.mailbox.receive:
                    if call.reply.abandoned:
                        close_events(call)
                        continue
                    token = object()
                    try:
                        # The mailbox read was a checkpoint already: take a free slot
                        # without another trip through the scheduler.
                        slots.acquire_on_behalf_of_nowait(token)
                    except trio.WouldBlock:
                        try:
                            await slots.acquire_on_behalf_of(token)
                        except BaseException:
                            self._fail_stopped(call, counted=False)
                            raise
                    nursery.start_soon(self._serve, call, slots, token)
        finally:
            self._nursery = None
            self._publish_due = None
            state.up = False
            state.in_flight = 0
            state.publish()

    async def _serve(self, call: ProviderCall, slots: trio.CapacityLimiter, token: object) -> None:
        try:
            if isinstance(call, CompleteCall):
                await self._serve_complete(call)
            else:
                await self._serve_stream(call)
        except BaseException:
            self._fail_stopped(call)
            raise
        finally:
            slots.release_on_behalf_of(token)
            limit = self.state.concurrency_limit
            if slots.total_tokens != limit:
                slots.total_tokens = limit

    def _fail_stopped(self, call: ProviderCall, *, counted: bool = True) -> None:
        """This actor is crashing or being stopped: the caller must hear it at once (and
        fail over), never wait for a reply that will not come. ``counted`` says whether
        the call already counts among the deployment's requests."""
        crashed = DeploymentCrashedError(
            "the deployment's actor stopped while serving the request",
            deployment=self.state.config.name,
            provider=self.state.config.provider,
        )
        if call.reply.set_exception(crashed):
            self.state.errors += 1
            if not counted:
                self.state.requests += 1
        close_events(call)

    async def _serve_complete(self, call: CompleteCall) -> None:
        with trio.CancelScope() as scope:
            call.reply.bind(scope)
            try:
                response = await self._guarded(call, self._complete)
            except ProviderError as exc:
                call.reply.set_exception(exc)
            else:
                call.reply.set_result(response)

    async def _complete(self, call: ProviderCall) -> Outcome[ChatResponse]:
        started = trio.current_time()
        response = await self.state.provider.complete(call.request)
        return response, response.usage, trio.current_time() - started

    async def _serve_stream(self, call: StreamCall) -> None:
        with trio.CancelScope() as scope:
            call.reply.bind(scope)
            async with call.events:
                try:
                    await self._guarded(call, self._pump)
                except ProviderError as exc:
                    call.reply.set_exception(exc)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    call.reply.abandon()  # the caller stopped reading: nothing to report
                else:
                    call.reply.set_result(None)

    async def _pump(self, call: ProviderCall) -> Outcome[None]:
        assert isinstance(call, StreamCall)
        state = self.state
        started = trio.current_time()
        usage = Usage()
        ttft: float | None = None
        async with state.provider.stream(call.request) as events:
            async for event in events:
                if isinstance(event, StreamStart):
                    event = msgspec.structs.replace(
                        event, provider=state.config.provider, deployment=state.config.name
                    )
                elif ttft is None and isinstance(event, CONTENT_EVENTS):
                    ttft = trio.current_time() - started
                    state.ttft.update(ttft)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                    event = msgspec.structs.replace(event, cost=state.provider.cost_of(usage))
                await call.events.send(event)
                if isinstance(event, Finish):
                    break
        # How long the rest took depends on the answer's length and on how fast the caller
        # reads, so a stream's responsiveness is its time to first content.
        return None, usage, ttft if ttft is not None else trio.current_time() - started

    async def _guarded(
        self,
        call: ProviderCall,
        work: Callable[[ProviderCall], Awaitable[Outcome[T]]],
    ) -> T:
        """Run ``work`` through the cooldown, the breaker, the rate limiter and the deadline,
        and learn from its outcome (breaker, health, moving averages, cooldowns, adaptive
        limit).

        A call that arrives while a provider's Retry-After runs is refused at once with a
        retryable :class:`RateLimitError`, so that its driver fails over instead of waiting.
        """
        state = self.state
        name = state.config.name
        now = trio.current_time()
        if now < state.cooldown_until:
            wait = state.cooldown_until - now
            raise RateLimitError(
                f"cooling down for {wait:.3g}s after the provider's rate limit",
                deployment=name,
                provider=state.config.provider,
                retry_after=wait,
            )
        if not state.breaker.allow(now):
            state.publish()
            raise CircuitOpenError(
                "circuit breaker is open", deployment=name, provider=state.config.provider
            )
        reservation: Reservation | None = None
        started = now
        deadline = call.deadline if call.deadline is not None else math.inf
        state.in_flight += 1
        state.requests += 1
        state.publish()
        try:
            reservation = await state.limiter.acquire(call.estimated_tokens, deadline=call.deadline)
            started = trio.current_time()
            with trio.CancelScope(deadline=deadline) as deadline_scope:
                value, usage, responsiveness = await work(call)
            if deadline_scope.cancelled_caught:
                raise TotalTimeoutError(
                    "the request's deadline passed", deployment=name, provider=state.config.provider
                )
        except ProviderError as exc:
            self._record_failure(exc, started, reservation)
            raise
        except BaseException:
            # Cancellation or a crash: nothing is learned about the deployment's health.
            state.breaker.record_ignored(trio.current_time())
            if reservation is not None:
                reservation.release()
            raise
        else:
            self._record_success(started, usage, responsiveness, reservation)
            return value
        finally:
            state.in_flight -= 1
            state.publish()

    def _record_success(
        self, started: float, usage: Usage, responsiveness: float, reservation: Reservation
    ) -> None:
        state = self.state
        now = trio.current_time()
        state.breaker.record_success(now, responsiveness)
        state.health.record_success(now)
        state.latency.update(now - started)
        state.success.update(1.0)
        reservation.settle(usage.input_tokens + usage.output_tokens)
        if state.adaptive is not None:
            state.adaptive.on_success(responsiveness, now)

    def _record_failure(
        self, exc: ProviderError, started: float, reservation: Reservation | None
    ) -> None:
        state = self.state
        now = trio.current_time()
        state.errors += 1
        if reservation is not None:
            # A failed call reports no usage: give its tokens back rather than guess.
            reservation.release()
        if exc.deployment is None:
            exc.deployment = state.config.name
        if state.adaptive is not None and _is_overload(exc):
            state.adaptive.on_overload(now)
        if isinstance(exc, RateLimitError):
            state.breaker.record_ignored(now)
            if exc.status == 429:
                wait = (
                    exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_COOLDOWN
                )
                state.cooldown_until = max(state.cooldown_until, now + wait)
                state.limiter.pause_until(now + wait)
            return
        if isinstance(exc, CircuitOpenError):
            return
        if counts_as_failure(exc):
            state.breaker.record_failure(now, now - started)
            was_healthy = state.health.healthy
            state.health.record_failure(exc, now)
            if was_healthy and not state.health.healthy and state.config.health.interval <= 0:
                # Without active probes nothing would ever try it again: recovery goes
                # through the breaker instead (open, then half-open probe requests).
                state.breaker.trip(now)
            state.success.update(0.0)
            self._publish_when_half_open()
        else:
            state.breaker.record_ignored(now)

    def _publish_when_half_open(self) -> None:
        """The snapshot must say half-open once an open period ends, without traffic."""
        opened_until = self.state.breaker.opened_until
        if opened_until is None or self._nursery is None or opened_until == self._publish_due:
            return
        self._publish_due = opened_until
        self._nursery.start_soon(self._publish_at, opened_until)

    async def _publish_at(self, when: float) -> None:
        await trio.sleep_until(when)
        if self._publish_due == when:
            self._publish_due = None
        self.state.publish()

    async def _health_loop(self) -> None:
        state = self.state

        async def probe() -> None:
            await state.provider.health_check()

        def changed(old: bool, new: bool) -> None:
            state.publish()

        state.health.on_change = changed
        await run_health_loop(state.health, probe, state.config.health)


def _is_overload(exc: ProviderError) -> bool:
    """Whether ``exc`` is the provider pushing back on load (not a local limit)."""
    if exc.status in OVERLOAD_STATUSES:
        return True
    return isinstance(exc, FirstTokenTimeoutError | StreamIdleTimeoutError)
