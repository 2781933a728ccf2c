"""A token bucket: ``capacity`` tokens, refilled continuously at ``refill_per_second``.

Pure arithmetic: every method takes the current time (seconds on any monotonic clock, the
Trio clock in practice) so it can be tested without tasks or sleeps.
"""

from __future__ import annotations

import math

# Float slack so that a waiter who slept exactly the computed time is admitted even if the
# refill arithmetic came out a hair short; scaled by capacity (see _tolerance).
_RELATIVE_EPSILON = 1e-9


def _tolerance(capacity: float) -> float:
    return _RELATIVE_EPSILON * max(1.0, capacity)


def _check_limit(capacity: float, refill_per_second: float) -> None:
    if not capacity > 0:
        raise ValueError(f"capacity must be positive, got {capacity!r}")
    if not refill_per_second >= 0:
        raise ValueError(f"refill_per_second must not be negative, got {refill_per_second!r}")


class TokenBucket:
    """Holds up to ``capacity`` tokens and starts full.

    An amount larger than the capacity can never be covered, so it is admitted once the
    bucket is full and leaves the bucket in debt (negative), which then holds back the
    requests after it until the refill has paid the debt off. Time going backwards is
    treated as no time passing. Raises ``ValueError`` for a non-positive capacity or a
    negative refill rate.
    """

    def __init__(self, capacity: float, refill_per_second: float, now: float) -> None:
        _check_limit(capacity, refill_per_second)
        self._capacity = float(capacity)
        self._rate = float(refill_per_second)
        self._tokens = self._capacity
        self._updated = now

    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds."""
        return self._capacity

    @property
    def refill_per_second(self) -> float:
        """Tokens added per second."""
        return self._rate

    def _refill(self, now: float) -> None:
        if now > self._updated:
            if self._tokens < self._capacity:
                gained = (now - self._updated) * self._rate
                self._tokens = min(self._capacity, self._tokens + gained)
            self._updated = now

    def available(self, now: float) -> float:
        """Tokens in the bucket at ``now`` (negative while in debt)."""
        self._refill(now)
        return self._tokens

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until :meth:`try_take` of ``amount`` would succeed; 0.0 if it would now.

        ``math.inf`` when the bucket never refills.
        """
        self._refill(now)
        if amount <= self._tokens + _tolerance(self._capacity):
            return 0.0
        # An oversize amount only needs a full bucket (see the class docstring).
        missing = min(amount, self._capacity) - self._tokens
        if missing <= _tolerance(self._capacity):
            return 0.0
        if self._rate <= 0:
            return math.inf
        return missing / self._rate

    def try_take(self, amount: float, now: float) -> float:
        """Take ``amount`` and return 0.0, or take nothing and return the seconds to wait."""
        wait = self.wait_time(amount, now)
        if wait == 0.0:
            self._tokens -= amount
        return wait

    def consume(self, amount: float, now: float) -> None:
        """Take ``amount`` unconditionally, going into debt if need be (usage found later)."""
        self._refill(now)
        self._tokens -= amount

    def give_back(self, amount: float, now: float) -> None:
        """Return ``amount`` tokens taken earlier; the bucket never exceeds its capacity."""
        self._refill(now)
        self._tokens = min(self._capacity, self._tokens + max(0.0, amount))

    def set_limit(self, capacity: float, refill_per_second: float, now: float) -> None:
        """Change the capacity and rate from ``now`` on.

        Tokens already in the bucket are kept (capped at a lower capacity), so raising
        the limit grants no instant burst. Raises ``ValueError`` like the constructor.
        """
        _check_limit(capacity, refill_per_second)
        self._refill(now)
        self._capacity = float(capacity)
        self._rate = float(refill_per_second)
        self._tokens = min(self._tokens, self._capacity)

    def clamp_available(self, remaining: float, now: float) -> None:
        """Lower the tokens to ``remaining`` (a provider-reported count); never raises them."""
        self._refill(now)
        self._tokens = min(self._tokens, float(remaining))

    def __repr__(self) -> str:
        return (
            f"TokenBucket(capacity={self._capacity!r}, refill_per_second={self._rate!r}, "
            f"tokens={self._tokens!r})"
        )
