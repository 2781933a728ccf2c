"""Concurrency limits: a fixed cap, or one that adapts to the provider's pushback (AIMD)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio


class AdaptiveConcurrency:
    """Additive-increase / multiplicative-decrease concurrency limit (as TCP congestion control).

    After ``limit`` successes in a row the limit grows by one (so about one step per "round
    trip" of a full window); on overload it is multiplied by ``decrease_factor``, at most once
    per cooldown (``cooldown`` seconds or the baseline latency, whichever is longer) so a
    burst of 429s from requests that were all in flight together counts once. A success
    slower than ``latency_tolerance`` times the baseline (an EWMA of latencies, trusted after
    ``warmup`` samples) is treated as overload. The limit stays within ``minimum..maximum``.
    Raises ``ValueError`` for inconsistent bounds.
    """

    def __init__(
        self,
        initial: int,
        *,
        minimum: int = 1,
        maximum: int,
        decrease_factor: float = 0.5,
        latency_tolerance: float = 2.0,
        cooldown: float = 1.0,
        smoothing: float = 0.05,
        warmup: int = 5,
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum}..{maximum}")
        if not 0 < decrease_factor < 1:
            raise ValueError(f"decrease_factor must be within (0, 1), got {decrease_factor}")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = min(maximum, max(minimum, initial))
        self._factor = decrease_factor
        self._tolerance = latency_tolerance
        self._cooldown = cooldown
        self._smoothing = smoothing
        self._warmup = warmup
        self._baseline: float | None = None
        self._samples = 0
        self._successes = 0
        self._last_decrease: float | None = None

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return self._limit

    @property
    def baseline_latency(self) -> float | None:
        """The smoothed latency of successful calls, once there was one."""
        return self._baseline

    def on_success(self, latency: float, now: float) -> None:
        """A call succeeded after ``latency`` seconds."""
        overloaded = (
            self._baseline is not None
            and self._samples >= self._warmup
            and latency > self._tolerance * self._baseline
        )
        # Every sample feeds the baseline, slowly, so a lasting shift (longer prompts, a
        # slower model version) is learned instead of being read as overload forever.
        if self._baseline is None:
            self._baseline = latency
        else:
            self._baseline += self._smoothing * (latency - self._baseline)
        self._samples += 1
        if overloaded:
            self.on_overload(now)
            return
        self._successes += 1
        if self._successes >= self._limit:
            self._successes = 0
            self._limit = min(self.maximum, self._limit + 1)

    def on_overload(self, now: float) -> bool:
        """The provider pushed back (429, 529, a timeout); returns whether the limit dropped."""
        cooldown = max(self._cooldown, self._baseline or 0.0)
        if self._last_decrease is not None and now - self._last_decrease < cooldown:
            return False
        self._last_decrease = now
        self._successes = 0
        self._limit = max(self.minimum, int(self._limit * self._factor))
        return True


class ConcurrencyLimiter:
    """Bounds the calls in flight to one deployment.

    The bound is ``max_concurrency``, or follows ``adaptive.limit`` when given (report
    outcomes with :meth:`on_success` / :meth:`on_overload`). Lowering the limit never
    interrupts calls in flight; new ones wait until enough have finished.
    """

    def __init__(
        self, max_concurrency: int, *, adaptive: AdaptiveConcurrency | None = None
    ) -> None:
        self.adaptive = adaptive
        initial = adaptive.limit if adaptive is not None else max_concurrency
        self._limiter = trio.CapacityLimiter(initial)

    @classmethod
    def from_settings(cls, max_concurrency: int, *, adaptive: bool) -> ConcurrencyLimiter:
        """A fixed cap, or an adaptive limit that starts at (and never exceeds) the cap."""
        if not adaptive:
            return cls(max_concurrency)
        return cls(
            max_concurrency,
            adaptive=AdaptiveConcurrency(max_concurrency, maximum=max_concurrency),
        )

    @property
    def limit(self) -> int:
        """The current bound."""
        return int(self._limiter.total_tokens)

    @property
    def in_use(self) -> int:
        """Calls holding a slot."""
        return self._limiter.borrowed_tokens

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot."""
        return self._limiter.statistics().tasks_waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``.

        Waits for a free slot; cancelled while waiting, it holds nothing. The slot is
        released however the body ends.
        """
        # A fresh borrower per slot, so one task may hold several (e.g. hedged calls).
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        try:
            yield
        finally:
            self._limiter.release_on_behalf_of(borrower)

    def on_success(self, latency: float, now: float) -> None:
        """Report a successful call (no effect without an adaptive limit)."""
        if self.adaptive is not None:
            self.adaptive.on_success(latency, now)
            self._sync()

    def on_overload(self, now: float) -> None:
        """Report provider pushback (no effect without an adaptive limit)."""
        if self.adaptive is not None:
            self.adaptive.on_overload(now)
            self._sync()

    def _sync(self) -> None:
        assert self.adaptive is not None
        if self._limiter.total_tokens != self.adaptive.limit:
            self._limiter.total_tokens = self.adaptive.limit
