"""What a deployment is, apart from its actor: the messages it serves and the state that
outlives the actor's restarts (limits, breaker, health, moving averages, counters)."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from hubactors.actors import Mailbox, Reply
from hubactors.config import DeploymentConfig
from hubactors.model._types import ChatRequest, ChatResponse, StreamEvent
from hubactors.providers._base import Provider
from hubactors.resilience import AdaptiveConcurrency, CircuitBreaker, HealthTracker, RateLimiter
from hubactors.routing import DeploymentStatus, Ewma, StatusBoard


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
        slots = self.concurrency_limit
        if breaker == "half_open":
            # Only the probes may pass: more would be refused, so the router must see a
            # deployment that is full (and queue or go elsewhere), not one to send to.
            slots = min(slots, max(1, self.config.breaker.half_open_probes))
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
                max_concurrency=slots,
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


def close_events(call: ProviderCall) -> None:
    """End a stream call's event channel, so its reader never waits for events that will
    not come (the reply says why)."""
    if isinstance(call, StreamCall):
        call.events.close()


def fail_unserved(message: object, error: Exception) -> None:
    """Answer a message no actor will serve (its actor is gone) with ``error``."""
    reply = getattr(message, "reply", None)
    if isinstance(reply, Reply):
        reply.set_exception(error)
    if isinstance(message, StreamCall):
        message.events.close()
