"""Where requests wait when every deployment of their route is at its limit."""

from __future__ import annotations

import heapq
import itertools
import math

import trio

from hubactors.errors import LocalRateLimitError


class _Entry:
    __slots__ = ("event", "gone", "woken")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.woken = False
        self.gone = False


class RequestQueue:
    """A bounded waiting room, served by priority (lower first), then deadline (earlier
    first, none last), then arrival.

    Waiters leave only when :meth:`wake` / :meth:`wake_all` picks them, their deadline
    passes, or they are cancelled. ``len(queue)`` counts those still waiting.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError(f"max_size must not be negative, got {max_size}")
        self.max_size = max_size
        self._heap: list[tuple[int, float, int, _Entry]] = []
        self._arrivals = itertools.count()
        self._waiting = 0

    def __len__(self) -> int:
        return self._waiting

    async def wait_turn(self, priority: int = 0, deadline: float | None = None) -> None:
        """Wait until woken in turn.

        Raises :class:`~hubactors.errors.LocalRateLimitError` at once when ``max_size`` requests
        are already waiting (retryable), and when ``deadline`` (Trio clock) passes before
        the turn comes (not retryable: no time is left). Cancelled while waiting, it leaves
        the queue and later wakes go to the others; once woken it returns without another
        checkpoint, so a turn is never lost between the wake and the caller.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._waiting >= self.max_size:
            raise LocalRateLimitError(
                f"queue full ({self.max_size} requests waiting)",
                retryable=True,
            )
        if deadline is not None and deadline <= trio.current_time():
            raise self._deadline_error()
        entry = _Entry()
        key = math.inf if deadline is None else deadline
        heapq.heappush(self._heap, (priority, key, next(self._arrivals), entry))
        self._waiting += 1
        try:
            with trio.move_on_at(key):
                await entry.event.wait()
        except BaseException:
            self._leave(entry)
            raise
        if entry.woken:
            return
        self._leave(entry)
        raise self._deadline_error()

    @staticmethod
    def _deadline_error() -> LocalRateLimitError:
        return LocalRateLimitError(
            "deadline cannot be met while queued: every deployment stayed at its limit",
            retryable=False,
        )

    def _leave(self, entry: _Entry) -> None:
        if entry.woken:
            # Woken yet leaving by an exception (Trio delivers a wake before a later
            # cancellation, so only e.g. KeyboardInterrupt gets here): pass the turn on.
            self.wake(1)
        elif not entry.gone:
            entry.gone = True
            self._waiting -= 1
            # Departed entries are skipped lazily; compact so they cannot pile up unbounded.
            if len(self._heap) > 2 * self._waiting + 64:
                self._heap = [item for item in self._heap if not item[3].gone]
                heapq.heapify(self._heap)

    def wake(self, n: int = 1) -> int:
        """Let up to ``n`` waiters go, in order; returns how many were woken."""
        woken = 0
        while woken < n and self._heap:
            entry = heapq.heappop(self._heap)[3]
            if entry.gone:
                continue
            entry.gone = True
            entry.woken = True
            self._waiting -= 1
            entry.event.set()
            woken += 1
        return woken

    def wake_all(self) -> int:
        """Let every waiter go; returns how many were woken."""
        return self.wake(self._waiting)
