"""Errors of the actor runtime, all under :class:`hubactors.errors.HubError`."""

from __future__ import annotations

from typing import Any

from hubactors.errors import HubError


class ActorError(HubError):
    """Root of the actor runtime's errors."""


class AskTimeoutError(ActorError):
    """An ``ask`` got no reply before its timeout or deadline; the request was abandoned."""

    def __init__(self, actor: str, timeout: float | None = None) -> None:
        after = f" after {timeout:g}s" if timeout is not None else " (deadline passed)"
        super().__init__(f"no reply from actor {actor!r}{after}")
        self.actor = actor
        self.timeout = timeout

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "actor": self.actor, "timeout": self.timeout}


class MailboxFullError(ActorError):
    """``tell_nowait`` found the actor's mailbox full."""

    def __init__(self, actor: str, capacity: int) -> None:
        super().__init__(f"mailbox of actor {actor!r} is full ({capacity} messages)")
        self.actor = actor
        self.capacity = capacity

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "actor": self.actor, "capacity": self.capacity}


class ActorStoppedError(ActorError):
    """The actor (or supervisor) is stopped for good and takes no more messages."""

    def __init__(self, actor: str, message: str | None = None) -> None:
        super().__init__(message or f"actor {actor!r} is stopped")
        self.actor = actor

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "actor": self.actor}


class SupervisorEscalation(ActorError):
    """A supervisor exceeded its restart intensity, stopped its children and gave up.

    ``__cause__`` is the crash that tipped it over (``None`` when that exit was a normal
    exit of a permanent child). A parent supervisor treats this as a crash of the child
    that ran the escalating supervisor.
    """

    def __init__(
        self, supervisor: str, child: str, restarts: int, *, intensity: int, period: float
    ) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gave up: {restarts} restarts within {period:g}s"
            f" (intensity {intensity}), last exit by child {child!r}"
        )
        self.supervisor = supervisor
        self.child = child
        self.restarts = restarts
        self.intensity = intensity
        self.period = period

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "supervisor": self.supervisor,
            "child": self.child,
            "restarts": self.restarts,
            "intensity": self.intensity,
            "period": self.period,
        }
