"""Supervision events and the synchronous :class:`EventBus` that carries them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from hubactors._logging import logger

ExitReason = Literal["normal", "crash", "shutdown"]


class _SupervisionEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    supervisor: str


class ChildStarted(_SupervisionEvent, frozen=True, kw_only=True, tag="child_started"):
    """A child reported it is ready (called ``task_status.started()``)."""

    child: str


class ChildExited(_SupervisionEvent, frozen=True, kw_only=True, tag="child_exited"):
    """A child's task ended: by returning (``normal``), raising (``crash``), or being
    stopped by its supervisor (``shutdown``). ``error_type``/``error`` describe a crash."""

    child: str
    reason: ExitReason
    error_type: str | None = None
    error: str | None = None


class ChildRestarting(_SupervisionEvent, frozen=True, kw_only=True, tag="child_restarting"):
    """A child will be started again after ``delay`` seconds (its ``restart_count``-th restart)."""

    child: str
    restart_count: int
    delay: float


class SupervisorEscalated(_SupervisionEvent, frozen=True, kw_only=True, tag="supervisor_escalated"):
    """The supervisor saw ``restarts`` restarts within ``period`` seconds and gave up."""

    child: str
    restarts: int
    period: float
    error: str | None = None


class SupervisorStopped(_SupervisionEvent, frozen=True, kw_only=True, tag="supervisor_stopped"):
    """The supervisor's ``run`` is over and none of its children is running."""


SupervisionEvent = (
    ChildStarted | ChildExited | ChildRestarting | SupervisorEscalated | SupervisorStopped
)
"""Every supervision event; decode with ``msgspec.json.decode(data, type=SupervisionEvent)``."""

Subscriber = Callable[[msgspec.Struct], None]


class EventBus:
    """Fans events (frozen msgspec Structs) out to subscribers without ever blocking.

    Subscribers run synchronously inside :meth:`publish`; one that raises is logged and
    skipped.
    """

    def __init__(self) -> None:
        self._callbacks: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event; returns an idempotent unsubscribe."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def publish(self, event: msgspec.Struct) -> None:
        """Deliver ``event`` to every subscriber now; never raises for a subscriber's fault."""
        for callback in tuple(self._callbacks):
            try:
                callback(event)
            except Exception:
                logger.exception(
                    "event subscriber {!r} failed on {}", callback, type(event).__name__
                )
