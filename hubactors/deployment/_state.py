"""What a deployment is, apart from its actor: the messages it serves and the state that
outlives the actor's restarts (limits, breaker, health, moving averages, counters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from hubactors.actors import Mailbox, Reply
from hubactors.config import DeploymentConfig
from hubactors.errors import (
    CircuitOpenError,
    CooldownError,
    FirstTokenTimeoutError,
    ProviderError,
    RateLimitError,
    StreamIdleTimeoutError,
)
from hubactors.model._types import Usage
from hubactors.providers._base import Capabilities, Provider
from hubactors.providers._catalog import capabilities_for
from hubactors.resilience import (
    AdaptiveConcurrency,
    BreakerState,
    CircuitBreaker,
    Ewma,
    HealthTracker,
    RateLimiter,
    counts_as_failure,
)
from hubactors.routing import DeploymentStatus, StatusBoard

if TYPE_CHECKING:
    from hubactors.deployment._lease import Lease
    from hubactors.errors import LocalError
    from hubactors.shared import BreakerNews, Budgets, SharedBreaker

DEFAULT_RATE_LIMIT_COOLDOWN = 1.0
"""Seconds a deployment rests after a 429 that did not say how long to wait."""

OVERLOAD_STATUSES = frozenset({429, 503, 529})
"""HTTP statuses that mean "too much load": they lower an adaptive concurrency limit."""


class DeploymentObserver:
    """What a deployment reports to the layer above as it works; every method does nothing
    here (the hub's metrics override them). Called in the actor's or a lease's task, it
    must not await or raise."""

    __slots__ = ()

    def breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        """The deployment's circuit breaker went from ``old`` to ``new``."""

    def waited_for_limits(self, seconds: float) -> None:
        """An admission the rate limiter could not grant at once waited ``seconds`` for it,
        however that wait ended (granted, refused, or the asker gave up)."""


NO_OBSERVER = DeploymentObserver()


@dataclass(slots=True)
class Admit:
    """Ask a deployment's actor for a :class:`~hubactors.deployment.Lease`: a slot under its
    concurrency cap, its breaker's permission and a rate-limit reservation of
    ``estimated_tokens``. The reply is the lease, or the local refusal (cooldown, open
    breaker, a rate limit that cannot admit the request before ``deadline``)."""

    estimated_tokens: int
    deadline: float | None
    reply: Reply[Lease]


@dataclass
class DeploymentState:
    """Everything about one deployment that survives restarts of its actor."""

    config: DeploymentConfig
    provider: Provider
    board: StatusBoard
    mailbox: Mailbox[Admit]
    limiter: RateLimiter
    breaker: CircuitBreaker
    health: HealthTracker
    adaptive: AdaptiveConcurrency | None = None
    observer: DeploymentObserver = NO_OBSERVER
    shared_breaker: SharedBreaker | None = None
    budgets: Budgets | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
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
        mailbox: Mailbox[Admit],
        *,
        limiter: RateLimiter | None = None,
        observer: DeploymentObserver = NO_OBSERVER,
        shared_breaker: SharedBreaker | None = None,
        budgets: Budgets | None = None,
    ) -> DeploymentState:
        """The state of a fresh deployment, with limits and breaker from its config (or
        ``limiter``, when its provider was wired to it already); ``observer`` hears of its
        breaker's transitions and its rate-limit waits. ``shared_breaker`` links its
        breaker and cooldowns to other processes'; ``budgets`` may refuse its requests."""
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
            limiter=limiter or RateLimiter.from_config(config, now=now),
            breaker=CircuitBreaker(config.breaker, on_change=observer.breaker_changed),
            health=HealthTracker(config.health),
            adaptive=adaptive,
            observer=observer,
            shared_breaker=shared_breaker,
            budgets=budgets,
            capabilities=capabilities_for(config),
        )
        if shared_breaker is not None:
            state._link_breaker(shared_breaker)
        state.publish()
        return state

    def _link_breaker(self, link: SharedBreaker) -> None:
        breaker, observer = self.breaker, self.observer

        def changed(old: BreakerState, new: BreakerState) -> None:
            observer.breaker_changed(old, new)
            link.changed(old, new, breaker.opened_until)

        breaker.on_change = changed
        link.attach(self._apply_shared)

    def _apply_shared(self, news: BreakerNews, until: float) -> None:
        """Another process's breaker opened or closed, or its provider said to wait."""
        if news.kind == "cooldown":
            if until > self.cooldown_until:
                self.cooldown_until = until
                self.limiter.pause_until(until)
        elif news.kind == "open":
            self.breaker.hold_open(until)
        else:
            self.breaker.reset()
        self.publish()

    @property
    def concurrency_limit(self) -> int:
        return self.adaptive.limit if self.adaptive is not None else self.config.max_concurrency

    # --- admission and learning: called by the actor and by leases, never awaiting ---------

    def refusal(self, now: float) -> LocalError | None:
        """Why a request may not be sent right now (a provider's Retry-After still runs, its
        budget is spent, or the breaker is open), or ``None`` with the breaker's permission
        taken."""
        if now < self.cooldown_until:
            wait = self.cooldown_until - now
            return CooldownError(
                f"cooling down for {wait:.3g}s after the provider's rate limit",
                deployment=self.config.name,
                retry_after=wait,
            )
        if self.budgets is not None:
            over = self.budgets.refusal("deployment", self.config.name)
            if over is not None:
                return over
        link = self.shared_breaker
        if (
            link is not None
            and self.breaker.state(now) is BreakerState.HALF_OPEN
            and not link.may_probe()
        ):
            return CircuitOpenError(
                "circuit breaker is half-open and another process sends the probe",
                deployment=self.config.name,
            )
        if not self.breaker.allow(now):
            self.publish()
            return CircuitOpenError("circuit breaker is open", deployment=self.config.name)
        return None

    def learn_success(self, started: float, usage: Usage, responsiveness: float) -> None:
        """An attempt succeeded; ``responsiveness`` is its latency (time to first content
        for a stream), which the breaker's slow-call check and the adaptive limit judge."""
        now = trio.current_time()
        self.breaker.record_success(now, responsiveness)
        self.health.record_success(now)
        self.latency.update(now - started)
        self.success.update(1.0)
        if self.adaptive is not None:
            self.adaptive.on_success(responsiveness, now)

    def learn_failure(self, exc: ProviderError, started: float) -> None:
        """An attempt failed with the provider's ``exc``: breaker, health, cooldowns."""
        now = trio.current_time()
        self.errors += 1
        if self.adaptive is not None and _is_overload(exc):
            self.adaptive.on_overload(now)
        if isinstance(exc, RateLimitError):
            self.breaker.record_ignored(now)
            if exc.status == 429:
                wait = (
                    exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_COOLDOWN
                )
                self.cooldown_until = max(self.cooldown_until, now + wait)
                self.limiter.pause_until(now + wait)
                if self.shared_breaker is not None:
                    self.shared_breaker.cooled(self.cooldown_until)
            return
        if not counts_as_failure(exc):
            self.breaker.record_ignored(now)
            return
        self.breaker.record_failure(now, now - started)
        was_healthy = self.health.healthy
        self.health.record_failure(exc, now)
        if was_healthy and not self.health.healthy and self.config.health.interval <= 0:
            # Without active probes nothing would ever try it again: recovery goes through
            # the breaker instead (open, then half-open probe requests).
            self.breaker.trip(now)
        self.success.update(0.0)

    def learn_nothing(self) -> None:
        """The attempt was cancelled or refused by us: nothing is learned about health."""
        self.breaker.record_ignored(trio.current_time())

    def publish(self) -> None:
        """Put a fresh snapshot of this deployment on the status board."""
        now = trio.current_time()
        breaker = self.breaker.state(now)
        cooldown = self.cooldown_until
        opened_until = self.breaker.opened_until
        if opened_until is not None:
            cooldown = max(cooldown, opened_until)
        pricing = self.provider.pricing()
        limited_until = self.limiter.next_available(now)
        slots = self.concurrency_limit
        if breaker is BreakerState.HALF_OPEN:
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
                breaker=breaker,
                cooldown_until=cooldown,
                rate_limited_until=limited_until if limited_until > now else 0.0,
                in_flight=self.in_flight,
                max_concurrency=slots,
                ewma_latency=self.latency.value,
                ewma_ttft=self.ttft.value,
                ewma_success=self.success.value if self.success.value is not None else 1.0,
                input_price=pricing.input_per_mtok,
                output_price=pricing.output_per_mtok,
                context_window=self.capabilities.context_window,
                vision=self.capabilities.vision is not False,
                restarts=max(0, self.starts - 1),
                requests=self.requests,
                errors=self.errors,
                updated_at=now,
            )
        )


def fail_unserved(message: object, error: Exception) -> None:
    """Answer a message no actor will serve (its actor is gone) with ``error``."""
    reply = getattr(message, "reply", None)
    if isinstance(reply, Reply):
        reply.set_exception(error)


def _is_overload(exc: ProviderError) -> bool:
    """Whether ``exc`` is the provider pushing back on load (not a local limit)."""
    if exc.status in OVERLOAD_STATUSES:
        return True
    return isinstance(exc, FirstTokenTimeoutError | StreamIdleTimeoutError)
