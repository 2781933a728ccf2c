"""The status board: one immutable snapshot per deployment, written by its actor, read by routers.

Each provider actor is the single writer of its deployment's :class:`DeploymentStatus`; it
publishes a new snapshot whenever something the router cares about changes. Routers read
snapshots without locks (they are frozen) and wait on :meth:`StatusBoard.wait_for_change`
when every deployment is busy, so a queued request wakes as soon as capacity frees up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec
import trio

from hubactors.resilience import BreakerState

if TYPE_CHECKING:
    from hubactors.routing._protocol import RequestInfo


class DeploymentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What one deployment looks like to the router right now.

    Times (``cooldown_until``, ``rate_limited_until``, ``updated_at``) are
    ``trio.current_time()`` values; latencies are seconds; prices are US dollars per million
    tokens. ``ewma_success`` is a moving average of outcomes (1.0 = every call succeeded).
    """

    name: str
    provider: str = ""
    model: str = ""
    priority: int = 0
    weight: float = 1.0
    up: bool = True
    healthy: bool = True
    breaker: BreakerState = BreakerState.CLOSED
    cooldown_until: float = 0.0
    rate_limited_until: float = 0.0
    in_flight: int = 0
    max_concurrency: int = 32
    ewma_latency: float | None = None
    ewma_ttft: float | None = None
    ewma_success: float = 1.0
    input_price: float = 0.0
    output_price: float = 0.0
    context_window: int | None = None
    """The model's context window in tokens (``None``: unknown, no limit applied)."""
    vision: bool = True
    """Whether the model takes image input."""
    restarts: int = 0
    requests: int = 0
    errors: int = 0
    updated_at: float = 0.0

    def available(self, now: float) -> bool:
        """Whether the deployment may be sent a request at all at ``now``.

        True when its actor is up, its breaker is not open, no provider cooldown (a 429's
        ``Retry-After``) is running, and it is healthy -- or its breaker is half-open, which
        lets a probe request through to find out whether it recovered.
        """
        return (
            self.up
            and self.breaker != BreakerState.OPEN
            and now >= self.cooldown_until
            and (self.healthy or self.breaker == BreakerState.HALF_OPEN)
        )

    def cannot_serve(self, info: RequestInfo) -> str | None:
        """Why this deployment's model cannot take the request at all, or ``None``: its
        prompt does not fit the context window, or it carries images the model cannot see."""
        window = self.context_window
        if window is not None and info.estimated_input_tokens > window:
            return (
                f"context window of {window} tokens too small "
                f"(the prompt is ~{info.estimated_input_tokens})"
            )
        if info.images and not self.vision:
            return "the model takes no image input"
        return None

    def saturated(self, now: float) -> bool:
        """Whether an available deployment must make the request wait (the router queues).

        True when every concurrency slot is taken or the local rate limiter would not let a
        request pass before ``rate_limited_until``.
        """
        return self.in_flight >= self.max_concurrency or now < self.rate_limited_until

    @property
    def load(self) -> float:
        """The share of concurrency slots in use, from 0.0 (idle) up to 1.0 (full)."""
        if self.max_concurrency <= 0:
            return 1.0
        return min(1.0, self.in_flight / self.max_concurrency)

    def expected_cost(self, input_tokens: int, output_tokens: int) -> float:
        """The list-price cost in US dollars of a request of this size."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


class StatusBoard:
    """The latest :class:`DeploymentStatus` of every deployment, plus change notification.

    Waiting costs nothing per waiter: every publish sets the current ``trio.Event`` and
    swaps in a fresh one, so all waiters wake together and no task is spawned.
    """

    def __init__(self, statuses: Iterable[DeploymentStatus] = ()) -> None:
        self._statuses: dict[str, DeploymentStatus] = {s.name: s for s in statuses}
        self._changed = trio.Event()
        self._version = 0

    @property
    def version(self) -> int:
        """Counts publishes; compare two readings to know whether anything changed between."""
        return self._version

    def publish(self, status: DeploymentStatus) -> None:
        """Replace the snapshot of ``status.name`` and wake every waiter. Never blocks."""
        self._statuses[status.name] = status
        self._version += 1
        event, self._changed = self._changed, trio.Event()
        event.set()

    def get(self, name: str) -> DeploymentStatus | None:
        """The latest snapshot of ``name``, or ``None`` if it never published."""
        return self._statuses.get(name)

    def snapshot(self, names: Iterable[str]) -> list[DeploymentStatus]:
        """The latest snapshots of ``names``, in that order; names never published are left out."""
        return [s for s in (self._statuses.get(n) for n in names) if s is not None]

    def all(self) -> list[DeploymentStatus]:
        """Every snapshot on the board, in publication order of first appearance."""
        return list(self._statuses.values())

    async def wait_for_change(self, since: int | None = None) -> None:
        """Return after the next publish (or at once if ``version`` already moved past ``since``).

        Pass the ``version`` read before inspecting the board to close the gap between
        looking and waiting. Cancellation simply abandons the wait.
        """
        if since is not None and since != self._version:
            await trio.lowlevel.checkpoint()
            return
        await self._changed.wait()
