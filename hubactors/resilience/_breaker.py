"""A circuit breaker per deployment: stop sending requests to a deployment that is failing.

``closed`` counts calls in a rolling time window and trips to ``open`` when enough of them
failed (or were slow); ``open`` refuses calls for ``open_for`` seconds, then ``half_open``
lets a few probe calls through; their outcome closes the breaker or opens it again, for
longer each time. Pure logic: every method takes the current time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from enum import StrEnum

import msgspec

from hubactors.config import BreakerConfig
from hubactors.errors import (
    AuthenticationError,
    CircuitOpenError,
    ContentFilterError,
    NotFoundError,
    ProviderInvalidRequestError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)

_NOT_FAILURES = (
    RateLimitError,
    ProviderInvalidRequestError,
    AuthenticationError,
    NotFoundError,
    ContentFilterError,
    CircuitOpenError,
)
_FAILURES = (ServerError, ProviderTimeoutError, StreamInterruptedError)


def counts_as_failure(exc: BaseException) -> bool:
    """Whether an error says the deployment is unwell (and so counts against its health).

    5xx/overloaded, connection failures, every kind of timeout and broken streams count.
    Rate limits (the deployment works, we are too fast), the caller's own mistakes
    (4xx, auth, not found), content filtering, an open breaker, cancellations and any
    non-provider exception do not.
    """
    if isinstance(exc, _NOT_FAILURES):
        return False
    return isinstance(exc, _FAILURES)


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the breaker for metrics and logs."""

    state: BreakerState
    calls: int
    failures: int
    slow_calls: int
    opened_until: float | None


class _Bucket:
    __slots__ = ("calls", "failures", "index", "slow")

    def __init__(self, index: int) -> None:
        self.index = index
        self.calls = 0
        self.failures = 0
        self.slow = 0


ChangeCallback = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """The breaker of one deployment, configured by a :class:`~hubactors.config.BreakerConfig`.

    The rolling window is ``buckets`` slices of ``window / buckets`` seconds each. Every
    re-open straight from ``half_open`` multiplies the open period by ``open_growth``, up
    to ``max_open_for`` (default ``8 * open_for``); closing resets it. ``on_change(old,
    new)`` is called on every state change; an exception from it propagates to the caller.
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        buckets: int = 10,
        open_growth: float = 2.0,
        max_open_for: float | None = None,
        on_change: ChangeCallback | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._buckets: deque[_Bucket] = deque()
        self._bucket_count = max(1, buckets)
        self._bucket_width = self.config.window / self._bucket_count
        self._growth = max(1.0, open_growth)
        self._max_open_for = max_open_for if max_open_for is not None else 8 * self.config.open_for
        self._probes = max(1, self.config.half_open_probes)
        self.on_change = on_change
        self._state = BreakerState.CLOSED
        self._open_for = self.config.open_for
        self._opened_until: float | None = None
        self._permits = 0
        self._in_flight = 0
        self._probe_successes = 0

    # -- state -------------------------------------------------------------------------

    @property
    def opened_until(self) -> float | None:
        """When the current open period ends; ``None`` unless open."""
        return self._opened_until if self._state is BreakerState.OPEN else None

    def state(self, now: float) -> BreakerState:
        """The state at ``now`` (an expired open period turns into ``half_open`` here)."""
        expired = self._opened_until is not None and now >= self._opened_until
        if self._state is BreakerState.OPEN and expired:
            self._permits = self._probes
            self._in_flight = 0
            self._probe_successes = 0
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _set(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self.on_change is not None:
            self.on_change(old, new)

    def _open(self, now: float, *, again: bool) -> None:
        if again:
            self._open_for = min(self._max_open_for, self._open_for * self._growth)
        else:
            self._open_for = self.config.open_for
        self._opened_until = now + self._open_for
        self._set(BreakerState.OPEN)

    def _close(self) -> None:
        self._buckets.clear()
        self._open_for = self.config.open_for
        self._opened_until = None
        self._set(BreakerState.CLOSED)

    def trip(self, now: float) -> None:
        """Open now, whatever the window says: another detector (e.g. passive health)
        judged the deployment down. Recovery then goes through ``half_open`` as usual.
        No-op while already open."""
        state = self.state(now)
        if state is not BreakerState.OPEN:
            self._open(now, again=state is BreakerState.HALF_OPEN)

    def hold_open(self, until: float) -> None:
        """Stay (or be) open until ``until``, as another process's breaker of the same
        deployment is; never shortens an open period."""
        if self._state is not BreakerState.OPEN or (self._opened_until or 0.0) < until:
            self._opened_until = until
            self._set(BreakerState.OPEN)

    def reset(self) -> None:
        """Close now, forgetting the window (another process's probe succeeded)."""
        if self._state is not BreakerState.CLOSED:
            self._close()

    # -- calls -------------------------------------------------------------------------

    def allow(self, now: float) -> bool:
        """Whether a call may go ahead now. In ``half_open`` a ``True`` takes a probe permit,
        which the call's ``record_*`` gives back."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._permits > 0:
            self._permits -= 1
            self._in_flight += 1
            return True
        return False

    def record_success(self, now: float, duration: float = 0.0) -> None:
        """A call succeeded after ``duration`` seconds.

        With ``slow_call_seconds`` set, a slow call counts towards the slow-call rate, and a
        slow probe in ``half_open`` counts as a failed probe.
        """
        self._record(now, failed=False, slow=self._is_slow(duration))

    def record_failure(self, now: float, duration: float = 0.0) -> None:
        """A call failed in a way that :func:`counts_as_failure`."""
        self._record(now, failed=True, slow=self._is_slow(duration))

    def record_ignored(self, now: float) -> None:
        """A call ended in a way that says nothing about health (cancelled, 4xx, 429).

        In ``half_open`` its probe permit is returned for another call to use.
        """
        if self.state(now) is BreakerState.HALF_OPEN and self._in_flight > 0:
            self._in_flight -= 1
            self._permits += 1

    def _is_slow(self, duration: float) -> bool:
        limit = self.config.slow_call_seconds
        return limit is not None and duration >= limit

    def _record(self, now: float, *, failed: bool, slow: bool) -> None:
        state = self.state(now)
        if state is BreakerState.CLOSED:
            bucket = self._bucket(now)
            bucket.calls += 1
            bucket.failures += int(failed)
            bucket.slow += int(slow)
            if self._should_trip(now):
                self._open(now, again=False)
        elif state is BreakerState.HALF_OPEN and self._in_flight > 0:
            # Results while open, or of calls let through before the trip, are stale.
            self._in_flight -= 1
            if failed or slow:
                self._open(now, again=True)
                return
            self._probe_successes += 1
            if self._probe_successes >= self._probes:
                self._close()

    # -- rolling window ----------------------------------------------------------------

    def _roll(self, now: float) -> int:
        index = math.floor(now / self._bucket_width) if self._bucket_width > 0 else 0
        while self._buckets and self._buckets[0].index <= index - self._bucket_count:
            self._buckets.popleft()
        return index

    def _bucket(self, now: float) -> _Bucket:
        index = self._roll(now)
        if not self._buckets or self._buckets[-1].index < index:
            self._buckets.append(_Bucket(index))
        # A clock that went backwards lands in the newest bucket.
        return self._buckets[-1]

    def _totals(self, now: float) -> tuple[int, int, int]:
        self._roll(now)
        calls = sum(b.calls for b in self._buckets)
        failures = sum(b.failures for b in self._buckets)
        slow = sum(b.slow for b in self._buckets)
        return calls, failures, slow

    def _should_trip(self, now: float) -> bool:
        calls, failures, slow = self._totals(now)
        if calls == 0 or calls < self.config.min_calls:
            return False
        if failures / calls >= self.config.failure_rate:
            return True
        return self.config.slow_call_seconds is not None and (
            slow / calls >= self.config.slow_call_rate
        )

    def stats(self, now: float) -> BreakerStats:
        """Counts in the current window and the state at ``now``."""
        state = self.state(now)
        calls, failures, slow = self._totals(now)
        return BreakerStats(
            state=state,
            calls=calls,
            failures=failures,
            slow_calls=slow,
            opened_until=self.opened_until,
        )
