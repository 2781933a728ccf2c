"""A concurrency limit that adapts to the provider's pushback (AIMD)."""

from __future__ import annotations

from hubactors.resilience._ewma import Ewma


class AdaptiveConcurrency:
    """Additive-increase / multiplicative-decrease concurrency limit (as TCP congestion control).

    After ``limit`` successes in a row the limit grows by one (so about one step per "round
    trip" of a full window); on overload it is multiplied by ``decrease_factor``, at most once
    per cooldown (``cooldown`` seconds or the baseline latency, whichever is longer) so a
    burst of 429s from requests that were all in flight together counts once. A success
    slower than ``latency_tolerance`` times the baseline (an EWMA of latencies, trusted after
    ``warmup`` samples, moving by ``smoothing``) is treated as overload. The limit stays within
    ``minimum..maximum``. Raises ``ValueError`` for inconsistent bounds or a ``smoothing``
    outside (0, 1].
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
        self._warmup = warmup
        self._baseline = Ewma(alpha=smoothing)
        self._successes = 0
        self._last_decrease: float | None = None

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return self._limit

    @property
    def baseline_latency(self) -> float | None:
        """The smoothed latency of successful calls, once there was one."""
        return self._baseline.value

    def on_success(self, latency: float, now: float) -> None:
        """A call succeeded after ``latency`` seconds."""
        baseline = self._baseline.value
        overloaded = (
            baseline is not None
            and self._baseline.count >= self._warmup
            and latency > self._tolerance * baseline
        )
        # Every sample feeds the baseline, slowly, so a lasting shift (longer prompts, a
        # slower model version) is learned instead of being read as overload forever.
        self._baseline.update(latency)
        if overloaded:
            self.on_overload(now)
            return
        self._successes += 1
        if self._successes >= self._limit:
            self._successes = 0
            self._limit = min(self.maximum, self._limit + 1)

    def on_overload(self, now: float) -> bool:
        """The provider pushed back (429, 529, a timeout); returns whether the limit dropped."""
        cooldown = max(self._cooldown, self._baseline.value or 0.0)
        if self._last_decrease is not None and now - self._last_decrease < cooldown:
            return False
        self._last_decrease = now
        self._successes = 0
        self._limit = max(self.minimum, int(self._limit * self._factor))
        return True
