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
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
import trio

from hubactors._types import (
    CONTENT_EVENTS,
    ChatRequest,
    ChatResponse,
    Finish,
    StreamEvent,
    StreamStart,
    Usage,
    UsageEvent,
)
from hubactors.actors import Mailbox, Reply
from hubactors.config import DeploymentConfig
from hubactors.errors import (
    CircuitOpenError,
    DeploymentCrashedError,
    ProviderError,
    RateLimitError,
    TotalTimeoutError,
)
from hubactors.providers._base import Provider
from hubactors.resilience import (
    AdaptiveConcurrency,
    CircuitBreaker,
    HealthTracker,
    RateLimiter,
    Reservation,
    counts_as_failure,
    run_health_loop,
)
from hubactors.routing import DeploymentStatus, Ewma, StatusBoard

T = TypeVar("T")

DEFAULT_RATE_LIMIT_COOLDOWN = 1.0
"""Seconds a deployment rests after a 429 that did not say how long to wait."""


@dataclass(slots=True)
class CompleteCall:
    """Serve ``request`` and reply with a :class:`ChatResponse` or a ``ProviderError``."""

    request: ChatRequest
    estimated_tokens: int
    deadline: float | None
    reply: Reply[ChatResponse]


@dataclass(slots=True)
class StreamCall:
    """Stream ``request`` into ``events``; the reply says how the stream ended.

    The actor closes ``events`` when it is done. The caller closing its receive side, or
    abandoning ``reply``, stops the upstream request at once.
    """

    request: ChatRequest
    estimated_tokens: int
    deadline: float | None
    events: trio.MemorySendChannel[StreamEvent]
    reply: Reply[None]


ProviderCall = CompleteCall | StreamCall


@dataclass
class DeploymentState:
    """Everything about one deployment that survives restarts of its actor."""

    config: DeploymentConfig
    provider: Provider
    board: StatusBoard
    mailbox: Mailbox[ProviderCall]
    limiter: RateLimiter
    breaker: CircuitBreaker
    health: HealthTracker
    adaptive: AdaptiveConcurrency | None = None
    latency: Ewma = field(default_factory=Ewma)
    ttft: Ewma = field(default_factory=Ewma)
    success: Ewma = field(default_factory=lambda: Ewma(alpha=0.1, initial=1.0))
    cooldown_until: float = 0.0
    starts: int = 0
    up: bool = False
    in_flight: int = 0
    requests: int = 0
    errors: int = 0

    @classmethod
    def create(
        cls,
        config: DeploymentConfig,
        provider: Provider,
        board: StatusBoard,
        mailbox: Mailbox[ProviderCall],
    ) -> DeploymentState:
        """The state of a fresh deployment, with limits and breaker from its config."""
        now = trio.current_time()
        adaptive = (
            AdaptiveConcurrency(initial=config.max_concurrency, maximum=config.max_concurrency)
            if config.adaptive_concurrency
            else None
        )
        state = cls(
            config=config,
            provider=provider,
            board=board,
            mailbox=mailbox,
            limiter=RateLimiter.from_config(config, now=now),
            breaker=CircuitBreaker(config.breaker),
            health=HealthTracker(config.health),
            adaptive=adaptive,
        )
        state.publish()
        return state

    @property
    def concurrency_limit(self) -> int:
        return self.adaptive.limit if self.adaptive is not None else self.config.max_concurrency

    def publish(self) -> None:
        """Put a fresh snapshot of this deployment on the status board."""
        now = trio.current_time()
        breaker = self.breaker.state(now).value
        cooldown = self.cooldown_until
        opened_until = self.breaker.opened_until
        if opened_until is not None:
            cooldown = max(cooldown, opened_until)
        pricing = self.provider.pricing()
        limited_until = self.limiter.next_available(now)
        self.board.publish(
            DeploymentStatus(
                name=self.config.name,
                provider=self.config.provider,
                model=self.config.model,
                priority=self.config.priority,
                weight=self.config.weight,
                up=self.up,
                healthy=self.health.healthy,
                breaker=breaker,  # type: ignore[arg-type]
                cooldown_until=cooldown,
                rate_limited_until=limited_until if limited_until > now else 0.0,
                in_flight=self.in_flight,
                max_concurrency=self.concurrency_limit,
                ewma_latency=self.latency.value,
                ewma_ttft=self.ttft.value,
                ewma_success=self.success.value if self.success.value is not None else 1.0,
                input_price=pricing.input_per_mtok,
                output_price=pricing.output_per_mtok,
                restarts=max(0, self.starts - 1),
                requests=self.requests,
                errors=self.errors,
                updated_at=now,
            )
        )


class ProviderActor:
    """Runs one deployment: call :meth:`run` under a supervisor (it is restartable)."""

    def __init__(self, state: DeploymentState) -> None:
        self.state = state
        self._nursery: trio.Nursery | None = None

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
                state.up = True
                state.publish()
                task_status.started()
                async for call in state.mailbox.receive:
                    if call.reply.abandoned:
                        continue
                    token = object()
                    try:
                        await slots.acquire_on_behalf_of(token)
                    except BaseException:
                        self._fail_stopped(call)
                        raise
                    nursery.start_soon(self._serve, call, slots, token)
        finally:
            self._nursery = None
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

    def _fail_stopped(self, call: ProviderCall) -> None:
        """This actor is crashing or being stopped: the caller must hear it at once (and
        fail over), never wait for a reply that will not come."""
        crashed = DeploymentCrashedError(
            "the deployment's actor stopped while serving the request",
            deployment=self.state.config.name,
            provider=self.state.config.provider,
        )
        if call.reply.set_exception(crashed):
            self.state.errors += 1

    async def _serve_complete(self, call: CompleteCall) -> None:
        with trio.CancelScope() as scope:
            call.reply.bind(scope)
            try:
                response = await self._guarded(call, self._complete)
            except ProviderError as exc:
                call.reply.set_exception(exc)
            else:
                call.reply.set_result(response)

    async def _complete(self, call: ProviderCall) -> tuple[ChatResponse, Usage]:
        response = await self.state.provider.complete(call.request)
        return response, response.usage

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

    async def _pump(self, call: ProviderCall) -> tuple[None, Usage]:
        assert isinstance(call, StreamCall)
        state = self.state
        started = trio.current_time()
        usage = Usage()
        first_content = True
        async with state.provider.stream(call.request) as events:
            async for event in events:
                if isinstance(event, StreamStart):
                    event = msgspec.structs.replace(
                        event, provider=state.config.provider, deployment=state.config.name
                    )
                elif first_content and isinstance(event, CONTENT_EVENTS):
                    first_content = False
                    state.ttft.update(trio.current_time() - started)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                await call.events.send(event)
                if isinstance(event, Finish):
                    break
        return None, usage

    async def _guarded(
        self,
        call: ProviderCall,
        work: Callable[[ProviderCall], Awaitable[tuple[T, Usage]]],
    ) -> T:
        """Run ``work`` through the breaker, the rate limiter and the deadline, and learn
        from its outcome (breaker, health, moving averages, cooldowns, adaptive limit)."""
        state = self.state
        name = state.config.name
        now = trio.current_time()
        if not state.breaker.allow(now):
            state.publish()
            raise CircuitOpenError(
                "circuit breaker is open", deployment=name, provider=state.config.provider
            )
        reservation: Reservation | None = None
        started = now
        state.in_flight += 1
        state.requests += 1
        state.publish()
        try:
            reservation = await state.limiter.acquire(call.estimated_tokens, deadline=call.deadline)
            started = trio.current_time()
            deadline = call.deadline if call.deadline is not None else math.inf
            with trio.CancelScope(deadline=deadline) as deadline_scope:
                value, usage = await work(call)
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
            self._record_success(started, usage, reservation)
            return value
        finally:
            state.in_flight -= 1
            state.publish()

    def _record_success(self, started: float, usage: Usage, reservation: Reservation) -> None:
        state = self.state
        now = trio.current_time()
        elapsed = now - started
        state.breaker.record_success(now, elapsed)
        state.health.record_success(now)
        state.latency.update(elapsed)
        state.success.update(1.0)
        reservation.settle(usage.input_tokens + usage.output_tokens)
        if state.adaptive is not None:
            state.adaptive.on_success(elapsed, now)

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
        if isinstance(exc, RateLimitError):
            state.breaker.record_ignored(now)
            if exc.status == 429:
                wait = (
                    exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_COOLDOWN
                )
                state.cooldown_until = max(state.cooldown_until, now + wait)
                state.limiter.pause_until(now + wait)
                if state.adaptive is not None:
                    state.adaptive.on_overload(now)
            return
        if isinstance(exc, CircuitOpenError):
            return
        if counts_as_failure(exc):
            state.breaker.record_failure(now, now - started)
            opened_until = state.breaker.opened_until
            if opened_until is not None and self._nursery is not None:
                # The snapshot must say half-open once the open period ends, without traffic.
                self._nursery.start_soon(self._publish_at, opened_until)
            state.health.record_failure(exc, now)
            state.success.update(0.0)
        else:
            state.breaker.record_ignored(now)

    async def _publish_at(self, when: float) -> None:
        await trio.sleep_until(when)
        self.state.publish()

    async def _health_loop(self) -> None:
        state = self.state

        async def probe() -> None:
            await state.provider.health_check()

        def changed(old: bool, new: bool) -> None:
            state.publish()

        state.health.on_change = changed
        await run_health_loop(state.health, probe, state.config.health)
