"""Per-deployment request (RPM) and token (TPM) limits, enforced before a request is sent.

A request reserves one request and its *estimated* tokens up front (so a burst of long
prompts cannot all pass before any usage is known), then :meth:`Reservation.settle`
corrects the token count with the real usage, or :meth:`Reservation.release` returns
everything when the request was never sent.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Literal, Protocol

import msgspec
import trio

from hubactors.config import DeploymentConfig, RateLimitAlgorithm
from hubactors.errors import LocalRateLimitError
from hubactors.resilience._headers import parse_rate_limit_headers
from hubactors.resilience._sliding_window import SlidingWindowLimiter
from hubactors.resilience._token_bucket import TokenBucket

# A waiter whose computed wait is a hair above zero still sleeps this long, so that float
# rounding can never make it spin without the clock moving.
_MIN_SLEEP = 1e-6


class Limiter(Protocol):
    """What :class:`TokenBucket` and :class:`SlidingWindowLimiter` both offer."""

    @property
    def capacity(self) -> float: ...
    @property
    def refill_per_second(self) -> float: ...
    def available(self, now: float) -> float: ...
    def wait_time(self, amount: float, now: float) -> float: ...
    def try_take(self, amount: float, now: float) -> float: ...
    def consume(self, amount: float, now: float) -> None: ...
    def give_back(self, amount: float, now: float) -> None: ...
    def set_limit(self, capacity: float, refill_per_second: float, now: float) -> None: ...
    def clamp_available(self, remaining: float, now: float) -> None: ...


def per_minute_limiter(algorithm: RateLimitAlgorithm, limit: float, now: float) -> Limiter:
    """A limiter admitting ``limit`` units per minute."""
    if algorithm == "sliding-window":
        return SlidingWindowLimiter(limit, 60.0, now)
    return TokenBucket(limit, limit / 60.0, now)


class RateLimiterStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot for metrics; limits are per minute, ``None`` when not limited."""

    algorithm: RateLimitAlgorithm
    rpm_limit: float | None
    tpm_limit: float | None
    requests_available: float | None
    tokens_available: float | None
    waiting: int
    paused_until: float | None
    admitted: int
    rejected: int


class Reservation:
    """One admitted request's share of the limits. Made by :class:`RateLimiter` only.

    ``waited`` is false for one that :meth:`RateLimiter.acquire` granted without waiting
    (a shared limiter's admission awaits Redis, which is no wait for the limits)."""

    waited = True

    def __init__(
        self, owner: RateLimiter, rpm: Limiter | None, tpm: Limiter | None, tokens: int
    ) -> None:
        self._owner = owner
        self._rpm = rpm
        self._tpm = tpm
        self.tokens = tokens
        self._done = False

    @property
    def done(self) -> bool:
        """True once settled or released."""
        return self._done

    def settle(self, actual_tokens: int, now: float | None = None) -> None:
        """Correct the token reservation to ``actual_tokens`` (gives back or takes the
        difference). Idempotent: only the first settle or release counts."""
        if self._done:
            return
        self._done = True
        now = self._owner.now() if now is None else now
        if self._tpm is not None:
            difference = actual_tokens - self.tokens
            if difference > 0:
                self._tpm.consume(difference, now)
            elif difference < 0:
                self._tpm.give_back(-difference, now)
                self._owner._wake_head()

    def release(self, now: float | None = None) -> None:
        """Return the request and all its tokens (it was never sent). Idempotent."""
        if self._done:
            return
        self._done = True
        now = self._owner.now() if now is None else now
        if self._rpm is not None:
            self._rpm.give_back(1, now)
        if self._tpm is not None:
            self._tpm.give_back(self.tokens, now)
        self._owner._wake_head()


class _Waiter:
    __slots__ = ("tokens", "wake")

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.wake = trio.Event()


class RateLimiter:
    """RPM and TPM limits of one deployment (either may be ``None``: unlimited).

    Waiters are served first come, first served: a request never overtakes one that
    started waiting before it. ``now`` is the clock reading at construction (both kinds
    of limiter start with everything available, so an early value is harmless);
    ``clock`` reads the Trio clock unless a test passes another one.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        algorithm: RateLimitAlgorithm = "token-bucket",
        name: str | None = None,
        now: float = 0.0,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._algorithm: RateLimitAlgorithm = algorithm
        self._name = name
        self._clock = clock
        self._config_rpm = rpm
        self._config_tpm = tpm
        self._rpm = None if rpm is None else per_minute_limiter(algorithm, rpm, now)
        self._tpm = None if tpm is None else per_minute_limiter(algorithm, tpm, now)
        self._paused_until = -math.inf
        self._waiters: deque[_Waiter] = deque()
        self._admitted = 0
        self._rejected = 0

    @classmethod
    def from_config(cls, config: DeploymentConfig, *, now: float = 0.0) -> RateLimiter:
        """The limiter a deployment's ``rpm``, ``tpm`` and ``rate_limit_algorithm`` describe."""
        return cls(
            config.rpm,
            config.tpm,
            algorithm=config.rate_limit_algorithm,
            name=config.name,
            now=now,
        )

    def now(self) -> float:
        """The limiter's clock."""
        return self._clock()

    @property
    def waiting(self) -> int:
        """How many :meth:`acquire` calls are waiting."""
        return len(self._waiters)

    # -- admission ---------------------------------------------------------------------

    def _admission_wait(self, tokens: int, now: float) -> tuple[float, str]:
        """Seconds until one request of ``tokens`` passes every limit, and which binds."""
        wait, why = max(0.0, self._paused_until - now), "provider cool-down"
        if self._rpm is not None:
            rpm_wait = self._rpm.wait_time(1, now)
            if rpm_wait > wait:
                wait, why = rpm_wait, f"requests per minute ({self._rpm.capacity:g})"
        if self._tpm is not None:
            tpm_wait = self._tpm.wait_time(tokens, now)
            if tpm_wait > wait:
                wait, why = tpm_wait, f"tokens per minute ({self._tpm.capacity:g})"
        return wait, why

    def _take(self, tokens: int, now: float) -> Reservation:
        if self._rpm is not None:
            self._rpm.consume(1, now)
        if self._tpm is not None:
            self._tpm.consume(tokens, now)
        self._admitted += 1
        return Reservation(self, self._rpm, self._tpm, tokens)

    def _queued_wait(self, requests: int, tokens: int, now: float) -> tuple[float, str]:
        """Rough seconds until ``requests`` totalling ``tokens`` could all pass (fluid model)."""
        wait, why = max(0.0, self._paused_until - now), "provider cool-down"
        for limiter, amount, label in (
            (self._rpm, requests, "requests per minute"),
            (self._tpm, tokens, "tokens per minute"),
        ):
            if limiter is None:
                continue
            missing = amount - limiter.available(now)
            if missing > 0:
                rate = limiter.refill_per_second
                estimate = missing / rate if rate > 0 else math.inf
                if estimate > wait:
                    wait, why = estimate, f"{label} ({limiter.capacity:g})"
        return wait, why

    def _wait_behind(self, waiter: _Waiter | None, tokens: int, now: float) -> tuple[float, str]:
        """Estimated wait for a request queued behind everyone up to ``waiter`` (or all)."""
        requests, demand = 1, tokens
        for other in self._waiters:
            if other is waiter:
                break
            requests += 1
            demand += other.tokens
        return self._queued_wait(requests, demand, now)

    def try_acquire(self, estimated_tokens: int, now: float | None = None) -> Reservation | float:
        """Reserve now without waiting, or return the (positive) seconds until it may pass.

        Never overtakes a waiting :meth:`acquire`.
        """
        tokens = max(0, estimated_tokens)
        now = self._clock() if now is None else now
        if self._waiters:
            return max(_MIN_SLEEP, self._wait_behind(None, tokens, now)[0])
        wait, _ = self._admission_wait(tokens, now)
        if wait > 0:
            return wait
        return self._take(tokens, now)

    async def acquire(self, estimated_tokens: int, *, deadline: float | None = None) -> Reservation:
        """Wait until one request of ``estimated_tokens`` passes both limits and reserve it.

        Raises :class:`~hubactors.errors.LocalRateLimitError` (``retryable``, ``retry_after`` =
        the estimated wait) at once when it could not pass before ``deadline``, and at the
        deadline if a change of limits made it late. Cancelled while waiting, it takes
        nothing and its place goes to the next waiter.
        """
        tokens = max(0, estimated_tokens)
        # Admission without a wait is the hot path: it honours cancellation but skips the
        # schedule point, since the provider call that follows yields anyway.
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._waiters:
            got = self.try_acquire(tokens)
            if isinstance(got, Reservation):
                return got
        waiter = _Waiter(tokens)
        self._waiters.append(waiter)
        try:
            return await self._wait_in_line(waiter, deadline)
        finally:
            was_head = self._waiters[0] is waiter
            self._waiters.remove(waiter)
            if was_head:
                self._wake_head()

    async def _wait_in_line(self, waiter: _Waiter, deadline: float | None) -> Reservation:
        while True:
            now = self._clock()
            at_head = self._waiters[0] is waiter
            if at_head:
                wait, why = self._admission_wait(waiter.tokens, now)
                if wait == 0.0:
                    return self._take(waiter.tokens, now)
            else:
                wait, why = self._wait_behind(waiter, waiter.tokens, now)
            if deadline is not None and (now + wait > deadline or now >= deadline):
                self._rejected += 1
                raise LocalRateLimitError(
                    f"local rate limit: {why} would admit this request in {wait:.3g}s, "
                    "after its deadline",
                    deployment=self._name,
                    retryable=True,
                    retry_after=wait,
                )
            # Behind others: sleep until promoted to the head (or the deadline passes).
            timeout = max(wait, _MIN_SLEEP) if at_head else math.inf
            if deadline is not None:
                timeout = min(timeout, max(deadline - now, _MIN_SLEEP))
            waiter.wake = trio.Event()
            with trio.move_on_after(timeout):
                await waiter.wake.wait()

    def _wake_head(self) -> None:
        # Capacity came back or the head changed: the head re-computes its wait.
        if self._waiters:
            self._waiters[0].wake.set()

    # -- provider feedback -----------------------------------------------------------

    def pause_until(self, until: float) -> None:
        """Admit nothing before ``until`` (a provider's Retry-After); never shortens a pause."""
        if until > self._paused_until:
            self._paused_until = until
            self._wake_head()

    def _follow(
        self, which: Literal["rpm", "tpm"], limit: int | None, remaining: int | None, now: float
    ) -> None:
        current = self._rpm if which == "rpm" else self._tpm
        configured = self._config_rpm if which == "rpm" else self._config_tpm
        if limit is not None and limit > 0:
            # Follow the provider's limit but never above the configured one.
            target = float(limit) if configured is None else min(float(configured), limit)
            if current is None:
                current = per_minute_limiter(self._algorithm, target, now)
                if which == "rpm":
                    self._rpm = current
                else:
                    self._tpm = current
            elif target != current.capacity:
                current.set_limit(target, target / 60.0, now)
        if remaining is not None and current is not None:
            current.clamp_available(remaining, now)

    def update_from_headers(
        self, headers: Mapping[str, str], now: float, *, wall_now: float | None = None
    ) -> None:
        """Tighten the limits live from a response's rate-limit headers.

        A provider limit lower than ours lowers ours (one reported where we had none adds
        it); a higher one never raises a limit above its configured value. Remaining counts
        only ever lower what is available. Anthropic's combined ``tokens`` limit is used when
        sent, else its input-token limit (our token estimate is dominated by the prompt).
        ``wall_now`` is the Unix time, for Anthropic's absolute reset times. Resets are
        not used: the limiter's own refill stands in for the provider's replenishment.
        """
        parsed = parse_rate_limit_headers(headers, wall_now=wall_now)
        if parsed.is_empty():
            return
        self._follow("rpm", parsed.requests_limit, parsed.requests_remaining, now)
        if parsed.tokens_limit is not None or parsed.tokens_remaining is not None:
            self._follow("tpm", parsed.tokens_limit, parsed.tokens_remaining, now)
        else:
            self._follow("tpm", parsed.input_tokens_limit, parsed.input_tokens_remaining, now)
        # A limit followed back up may let the head waiter in sooner.
        self._wake_head()

    # -- inspection ----------------------------------------------------------------------

    def next_available(self, now: float) -> float:
        """The time at which a new 1-token request could pass (behind any waiters)."""
        if self._waiters:
            return now + self._wait_behind(None, 1, now)[0]
        return now + self._admission_wait(1, now)[0]

    def stats(self, now: float | None = None) -> RateLimiterStats:
        """A snapshot of limits, availability and counters."""
        now = self._clock() if now is None else now
        return RateLimiterStats(
            algorithm=self._algorithm,
            rpm_limit=None if self._rpm is None else self._rpm.capacity,
            tpm_limit=None if self._tpm is None else self._tpm.capacity,
            requests_available=None if self._rpm is None else self._rpm.available(now),
            tokens_available=None if self._tpm is None else self._tpm.available(now),
            waiting=len(self._waiters),
            paused_until=self._paused_until if self._paused_until > now else None,
            admitted=self._admitted,
            rejected=self._rejected,
        )
