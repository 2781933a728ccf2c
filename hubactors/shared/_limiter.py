"""A deployment's RPM and TPM limits shared by every hub process, counted in Redis.

:class:`SharedRateLimiter` is a :class:`~hubactors.resilience.RateLimiter` (the actor and
its leases use it the same way) whose admissions are one atomic script call each
(:mod:`hubactors.shared._scripts`): sliding windows timed by the Redis server's clock, so
no 60-second window ever holds more than the limit across all processes. Tokens are
reserved at the estimate before the call; settling with the real usage and releasing on a
cancel are sent to Redis by a background task, so a lease never awaits them.

A process that cannot get capacity waits within the request's deadline, its own waiters
in line (only the first asks Redis: when the window says capacity is back, when this
process gives some back, and at least every :data:`POLL` seconds). While Redis is
unavailable and ``on_error = "open"`` the per-process limits of the base class admit
instead; ``"closed"`` refuses with :class:`~hubactors.errors.SharedStateUnavailableError`.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable

import trio

from hubactors._logging import logger
from hubactors.config import DeploymentConfig
from hubactors.errors import LocalRateLimitError
from hubactors.resilience import RateLimiter, Reservation
from hubactors.shared._redis import Fallback, SharedRedis
from hubactors.shared._scripts import ADMIT, SETTLE

WINDOW = 60.0
"""The length of the limits' window, in seconds: rpm and tpm are per minute."""

_MIN_SLEEP = 1e-3
_BACKLOG = 10_000  # settlements waiting for Redis; past that the window forgets them

POLL = 0.1
"""The longest a waiter sleeps before asking Redis again: capacity another process gives
back early (a release, tokens settled below the estimate) is seen within this time."""

FLUSH_DELAY = 0.002
"""Seconds a settlement waits to ride along with the next admission before it is sent on
its own: back-to-back requests then cost one round trip each, not two."""


class SharedReservation(Reservation):
    """One admitted request's entry in the shared windows; made by the limiter only."""

    def __init__(self, owner: SharedRateLimiter, rid: str, tokens: int) -> None:
        super().__init__(owner, None, None, tokens)
        self._shared = owner
        self.rid = rid

    def settle(self, actual_tokens: int, now: float | None = None) -> None:
        """Correct the reserved tokens to ``actual_tokens`` (sent to Redis in the
        background). Only the first settle or release counts."""
        if self._done:
            return
        self._done = True
        if actual_tokens != self.tokens and self._shared._limits[1] >= 0:
            self._shared._send(self.rid, max(0, actual_tokens))

    def release(self, now: float | None = None) -> None:
        """Give the request and its tokens back to every process's windows."""
        if self._done:
            return
        self._done = True
        self._shared._send(self.rid, -1)


class SharedRateLimiter(RateLimiter):
    """The limits of one deployment, shared through ``redis``.

    Its own per-process limits (the base class) stand in while Redis is unavailable and
    ``on_error = "open"``. Provider feedback (``Retry-After`` pauses, rate-limit headers)
    is applied to the per-process limits and pauses shared admissions too.
    """

    def __init__(
        self,
        config: DeploymentConfig,
        redis: SharedRedis,
        *,
        window: float | None = None,
        now: float = 0.0,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        super().__init__(
            config.rpm,
            config.tpm,
            algorithm=config.rate_limit_algorithm,
            name=config.name,
            now=now,
            clock=clock,
        )
        self._redis = redis
        self._window = WINDOW if window is None else window
        self._limits: list[float] = [
            -1 if config.rpm is None else config.rpm,
            -1 if config.tpm is None else config.tpm,
        ]
        self._shared = config.rpm is not None or config.tpm is not None
        self._keys = [
            redis.key("limits", config.name, "rpm"),
            redis.key("limits", config.name, "tpm"),
            redis.key("limits", config.name, "tpm", "tokens"),
        ]
        self._admit_script = redis.script(ADMIT)
        self._settle_script = redis.script(SETTLE)
        self._line = trio.Lock()  # this process's waiters, first come first served
        self._pending: list[str | int] = []  # settlements: reservation id, tokens (-1: release)
        self._pending_added = trio.Event()
        self._capacity_back = trio.Event()
        self._id_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}-"
        self._ids = 0

    @property
    def shared(self) -> bool:
        """Whether admissions go to Redis now: limits are set, and Redis is available (or
        ``on_error = "closed"`` refuses without it)."""
        redis = self._redis
        return self._shared and (redis.available or redis.config.on_error == "closed")

    def try_acquire(self, estimated_tokens: int, now: float | None = None) -> Reservation | float:
        """Per-process admission while Redis is unavailable (or nothing is limited);
        otherwise the positive wait that sends the asker to :meth:`acquire`."""
        if not self.shared:
            return super().try_acquire(estimated_tokens, now)
        return _MIN_SLEEP

    async def acquire(self, estimated_tokens: int, *, deadline: float | None = None) -> Reservation:
        """Reserve one request of ``estimated_tokens`` in the shared windows, waiting for
        capacity (behind this process's earlier waiters) until ``deadline``.

        Raises :class:`~hubactors.errors.LocalRateLimitError` when the windows cannot admit
        it before ``deadline``, and :class:`~hubactors.errors.SharedStateUnavailableError`
        when Redis is unavailable under ``on_error = "closed"``. Cancelled while waiting,
        it takes nothing.
        """
        tokens = max(0, estimated_tokens)
        if not self.shared:
            return await super().acquire(tokens, deadline=deadline)
        with trio.move_on_at(math.inf if deadline is None else deadline):
            queued = self._line.locked()  # behind this process's earlier waiters
            async with self._line:
                got = await self._wait_for_window(tokens, deadline, queued)
                if got is not None:
                    return got
            # Redis went away while this request waited: the per-process limits admit.
            return await super().acquire(tokens, deadline=deadline)
        raise self._too_late(None)

    async def _wait_for_window(
        self, tokens: int, deadline: float | None, waited: bool
    ) -> SharedReservation | None:
        while True:
            wait = self._paused_until - self._clock()
            if wait <= 0:
                got = await self._admit(tokens)
                if got is None:
                    return None
                if isinstance(got, SharedReservation):
                    got.waited = waited
                    return got
                wait = got
            waited = True
            if deadline is not None and self._clock() + wait > deadline:
                raise self._too_late(wait)
            # Capacity this process gives back wakes the waiter at once (its next call
            # carries the settlement); another process's, within POLL.
            self._capacity_back = trio.Event()
            with trio.move_on_after(min(max(wait, _MIN_SLEEP), POLL)):
                await self._capacity_back.wait()

    def _too_late(self, wait: float | None) -> LocalRateLimitError:
        self._rejected += 1
        when = "before its deadline" if wait is None else f"in {wait:.3g}s, after its deadline"
        return LocalRateLimitError(
            f"shared rate limit: the window would not admit this request {when}",
            deployment=self._name,
            retryable=True,
            retry_after=wait,
        )

    async def _admit(self, tokens: int) -> SharedReservation | float | None:
        self._ids += 1
        rid = f"{self._id_prefix}{self._ids}"
        args: list[str | float] = [self._window, self._limits[0], self._limits[1], tokens, rid]
        pending, self._pending = self._pending, []
        try:
            answer = await self._admit_script(self._keys, [*args, *pending])
        except BaseException:
            # Cancelled (or refused) with the script maybe run: give back whatever it took,
            # and send the settlements again (applying one twice changes nothing).
            self._pending[:0] = pending
            self._send(rid, -1)
            raise
        if isinstance(answer, Fallback):
            return None
        admitted, value = answer
        if int(admitted) == 1:
            self._admitted += 1
            return SharedReservation(self, rid, tokens)
        return float(value)

    def _send(self, rid: str, tokens: int) -> None:
        if len(self._pending) >= 2 * _BACKLOG:
            logger.warning("shared limiter of {}: settlements backlogged, one dropped", self._name)
            return
        self._pending += [rid, tokens]
        self._pending_added.set()
        self._capacity_back.set()

    async def run(self) -> None:
        """Send the settlements that no admission took along, until cancelled (then the
        last ones, within ``redis.timeout``); those that fail (Redis away) are dropped:
        their entries leave the window with time."""
        try:
            while True:
                await self._pending_added.wait()
                self._pending_added = trio.Event()
                await trio.sleep(FLUSH_DELAY)
                await self._flush()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(self._redis.timeout):
                await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            await self._settle_script(self._keys, pending)
        except Exception as exc:  # closed mode raises; nothing waits for this answer
            logger.debug("shared limiter of {}: settlements not sent: {}", self._name, exc)

    def next_available(self, now: float) -> float:
        """When a new request could pass: the per-process view while Redis serves (the
        shared windows are not read to publish a status)."""
        if self.shared:
            return max(now, self._paused_until)
        return super().next_available(now)
