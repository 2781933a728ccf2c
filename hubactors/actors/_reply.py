"""A one-shot reply slot shared by the task that asks and the actor that answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")

_PENDING, _RESULT, _ERROR = 0, 1, 2


class Reply(Generic[T]):
    """Carries one answer (a value or an exception) from an actor back to its asker.

    The asker calls :meth:`wait`, and :meth:`abandon` when it stops waiting (timeout or
    cancellation). The actor binds the cancel scope of the work it does for the request
    with :meth:`bind`, so that abandoning cancels that work at once, and answers with
    :meth:`set_result` / :meth:`set_exception`, which drop the answer (returning ``False``)
    once the asker is gone or an answer was already set. Single Trio thread: no locks.
    """

    __slots__ = ("_abandoned", "_error", "_event", "_scopes", "_state", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._state = _PENDING
        self._value: T | None = None
        self._error: Exception | None = None
        self._abandoned = False
        self._scopes: list[trio.CancelScope] = []

    def __repr__(self) -> str:
        state = "abandoned" if self._abandoned else ("done" if self.done else "pending")
        return f"<Reply {state}>"

    @property
    def done(self) -> bool:
        """Whether a result or an exception has been set."""
        return self._state != _PENDING

    @property
    def abandoned(self) -> bool:
        """Whether the asker stopped waiting before an answer was set."""
        return self._abandoned

    def set_result(self, value: T) -> bool:
        """Deliver ``value``; ``False`` (value dropped) if abandoned or already answered."""
        if self._abandoned or self.done:
            return False
        self._value = value
        self._settle(_RESULT)
        return True

    def set_exception(self, exc: Exception) -> bool:
        """Deliver ``exc`` for :meth:`wait` to raise; ``False`` (dropped) as for set_result."""
        if self._abandoned or self.done:
            return False
        self._error = exc
        self._settle(_ERROR)
        return True

    def bind(self, scope: trio.CancelScope) -> None:
        """Tie ``scope`` to this request: abandoning the reply cancels it.

        Binding to an already abandoned reply cancels ``scope`` immediately; binding to
        an answered one does nothing (the work it guarded is over).
        """
        if self._abandoned:
            scope.cancel()
        elif not self.done:
            self._scopes.append(scope)

    def abandon(self) -> None:
        """Called by the asker when it stops waiting: cancels bound work; idempotent.

        Does nothing once an answer was set (the work is already finished).
        """
        if self._abandoned or self.done:
            return
        self._abandoned = True
        scopes, self._scopes = self._scopes, []
        for scope in scopes:
            scope.cancel()

    async def wait(self) -> T:
        """Wait for the answer: return the result or raise the set exception.

        On cancellation the caller should :meth:`abandon` (``ActorRef.ask`` does).
        Raises ``RuntimeError`` if the reply was already abandoned (it can never be answered).
        """
        if self._abandoned:
            raise RuntimeError("waiting on an abandoned reply")
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # T may itself admit None

    async def answer(self, fn: Callable[..., Awaitable[T]], *args: object) -> None:
        """Run ``fn(*args)`` in a cancel scope bound to this reply, then answer with its outcome.

        An ``Exception`` from ``fn`` goes to the asker and is not re-raised here, so one bad
        request does not crash the actor. If the asker abandons, ``fn`` is cancelled and
        nothing is set. Cancellation of the calling task itself propagates as usual.
        """
        # The try sits outside the scope so that an error group from which the scope has
        # stripped its own Cancelled still reaches the asker.
        try:
            with trio.CancelScope() as scope:
                self.bind(scope)
                value = await fn(*args)
        except Exception as exc:
            self.set_exception(exc)
        else:
            if not scope.cancelled_caught:
                self.set_result(value)

    def _settle(self, state: int) -> None:
        self._state = state
        self._scopes = []
        self._event.set()
