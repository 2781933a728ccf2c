"""A sliding-window counter: at most ``limit`` units in any ``window`` seconds (approximately).

This is the two-bucket weighted approximation (as used by Cloudflare and nginx): usage is
counted in fixed windows, and the usage "in the last ``window`` seconds" is estimated as
``previous * (1 - elapsed_fraction) + current``. It needs O(1) memory whatever the rate,
and errs by assuming the previous window's usage was spread evenly over it.
"""

from __future__ import annotations

import math

from hubactors.resilience._token_bucket import _check_limit, _tolerance


class SlidingWindowLimiter:
    """Admits ``limit`` units per sliding ``window`` seconds; starts empty (all available).

    Same interface as :class:`~hubactors.resilience.TokenBucket`. An amount larger than
    ``limit`` is admitted once nothing at all is counted in the window, and then holds back
    later requests until it has slid out. Raises ``ValueError`` for a non-positive limit or
    window.
    """

    def __init__(self, limit: float, window: float, now: float) -> None:
        if not window > 0:
            raise ValueError(f"window must be positive, got {window!r}")
        _check_limit(limit, limit / window)
        self._limit = float(limit)
        self._window = float(window)
        self._start = now
        self._current = 0.0
        self._previous = 0.0

    @property
    def capacity(self) -> float:
        """The most units admitted per window."""
        return self._limit

    @property
    def window(self) -> float:
        """The window length in seconds."""
        return self._window

    @property
    def refill_per_second(self) -> float:
        """The long-run admission rate, ``limit / window``."""
        return self._limit / self._window

    def _advance(self, now: float) -> None:
        if now < self._start + self._window:
            return
        passed = math.floor((now - self._start) / self._window)
        self._previous = self._current if passed == 1 else 0.0
        self._current = 0.0
        self._start += passed * self._window

    def _used(self, now: float) -> float:
        self._advance(now)
        fraction = min(1.0, max(0.0, (now - self._start) / self._window))
        return self._previous * (1.0 - fraction) + self._current

    def available(self, now: float) -> float:
        """Units that could be taken at ``now`` (negative after an oversize admission)."""
        return self._limit - self._used(now)

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until :meth:`try_take` of ``amount`` would succeed; 0.0 if it would now."""
        used = self._used(now)
        slack = _tolerance(self._limit)
        if used + amount <= self._limit + slack:
            return 0.0
        window, start = self._window, self._start
        if amount > self._limit:
            if used <= slack:
                return 0.0
            # Empty once the current window's usage has slid out too.
            empty_at = start + (2 if self._current > slack else 1) * window
            return max(0.0, empty_at - now)
        if self._current + amount <= self._limit:
            # Fits within this window once enough of the previous one has slid out.
            fraction = 1.0 - (self._limit - self._current - amount) / self._previous
            return max(0.0, start + fraction * window - now)
        # Next window: this window's usage becomes "previous" and slides out in turn.
        fraction = 1.0 - (self._limit - amount) / self._current
        return max(0.0, start + window + fraction * window - now)

    def try_take(self, amount: float, now: float) -> float:
        """Take ``amount`` and return 0.0, or take nothing and return the seconds to wait."""
        wait = self.wait_time(amount, now)
        if wait == 0.0:
            self._current += amount
        return wait

    def consume(self, amount: float, now: float) -> None:
        """Count ``amount`` unconditionally (usage found out after the fact)."""
        self._advance(now)
        self._current += amount

    def give_back(self, amount: float, now: float) -> None:
        """Uncount ``amount`` taken earlier, from this window first, then the previous one."""
        self._advance(now)
        amount = max(0.0, amount)
        from_current = min(amount, self._current)
        self._current -= from_current
        self._previous = max(0.0, self._previous - (amount - from_current))

    def set_limit(self, capacity: float, refill_per_second: float, now: float) -> None:
        """Admit ``capacity`` per ``capacity / refill_per_second`` seconds from ``now`` on.

        Usage already counted is kept. Raises ``ValueError`` for non-positive values.
        """
        if not refill_per_second > 0:
            raise ValueError(f"refill_per_second must be positive, got {refill_per_second!r}")
        _check_limit(capacity, refill_per_second)
        self._advance(now)
        self._limit = float(capacity)
        self._window = float(capacity) / float(refill_per_second)

    def clamp_available(self, remaining: float, now: float) -> None:
        """Count extra usage so that at most ``remaining`` is available; never frees any."""
        excess = self.available(now) - float(remaining)
        if excess > 0:
            self._current += excess

    def __repr__(self) -> str:
        return (
            f"SlidingWindowLimiter(limit={self._limit!r}, window={self._window!r}, "
            f"current={self._current!r}, previous={self._previous!r})"
        )
