"""Bounded mailboxes that outlive actor restarts, and the refs used to send to them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import trio

from hubactors.actors._errors import ActorStoppedError, AskTimeoutError, MailboxFullError
from hubactors.actors._reply import Reply

M = TypeVar("M")
T = TypeVar("T")


class Mailbox(Generic[M]):
    """An actor's bounded message queue, created once and kept across restarts.

    The running actor reads :attr:`receive` (iterate it; never close it, or later
    incarnations of the actor could not read). Senders use :attr:`ref`. Messages sent
    while the actor is down (e.g. restarting) wait here for the next incarnation.
    """

    def __init__(self, name: str, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"mailbox capacity must not be negative, got {capacity}")
        self.name = name
        self.capacity = capacity
        self._send, self._receive = trio.open_memory_channel[M](capacity)
        # Replies of asks not yet finished, so a discarding close can fail them.
        self._asks: set[Reply[Any]] = set()
        self._closed = False
        self._ref = ActorRef(self)

    def __repr__(self) -> str:
        return f"<Mailbox {self.name!r} {self.pending}/{self.capacity}>"

    @property
    def receive(self) -> trio.MemoryReceiveChannel[M]:
        """The channel the running actor reads; it ends once the mailbox is closed and drained."""
        return self._receive

    @property
    def ref(self) -> ActorRef[M]:
        """The handle other tasks use to send to this actor."""
        return self._ref

    @property
    def pending(self) -> int:
        """Messages queued and not yet received."""
        return self._send.statistics().current_buffer_used

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self, *, drain: bool = True) -> None:
        """Stop the mailbox for good: later sends raise :class:`ActorStoppedError`.

        With ``drain=True`` queued messages stay readable and the actor's receive loop ends
        after them. With ``drain=False`` (the actor is gone) queued messages are dropped and
        every unanswered ``ask`` fails with :class:`ActorStoppedError`. Idempotent.
        """
        self._closed = True
        self._send.close()
        if drain:
            return
        while True:
            try:
                self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        for reply in list(self._asks):
            reply.set_exception(ActorStoppedError(self.name))

    def _stopped(self) -> ActorStoppedError:
        return ActorStoppedError(self.name)


class ActorRef(Generic[M]):
    """Sends messages to one actor's :class:`Mailbox`; cheap to copy around."""

    __slots__ = ("_mailbox",)

    def __init__(self, mailbox: Mailbox[M]) -> None:
        self._mailbox = mailbox

    def __repr__(self) -> str:
        return f"<ActorRef {self.name!r}>"

    @property
    def name(self) -> str:
        """The actor's name."""
        return self._mailbox.name

    @property
    def pending(self) -> int:
        """Messages queued in the actor's mailbox and not yet received."""
        return self._mailbox.pending

    async def tell(self, msg: M) -> None:
        """Send ``msg``, waiting for room in the mailbox.

        Raises :class:`ActorStoppedError` if the mailbox is (or gets) closed. On cancellation
        the message was not sent.
        """
        try:
            await self._mailbox._send.send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._mailbox._stopped() from None

    def tell_nowait(self, msg: M) -> None:
        """Send ``msg`` now.

        Raises :class:`MailboxFullError` if the mailbox is full, :class:`ActorStoppedError`
        if it is closed.
        """
        try:
            self._mailbox._send.send_nowait(msg)
        except trio.WouldBlock:
            raise MailboxFullError(self.name, self._mailbox.capacity) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._mailbox._stopped() from None

    async def ask(
        self,
        make: Callable[[Reply[T]], M],
        *,
        # A timeout argument (not just the caller's own scope) lets ask raise AskTimeoutError
        # and tell an abandoned request from a cancelled caller.
        timeout: float | None = None,  # noqa: ASYNC109
        deadline: float | None = None,
    ) -> T:
        """Send ``make(reply)`` and wait for the actor to answer through ``reply``.

        ``timeout`` (seconds) and ``deadline`` (``trio.current_time()`` based) bound the
        whole exchange, waiting for mailbox room included; the earlier one wins. Raises the
        actor's exception if it answered with one, :class:`AskTimeoutError` on timeout and
        :class:`ActorStoppedError` if the mailbox is closed. On timeout or cancellation the
        reply is abandoned (the actor's bound work is cancelled and its answer dropped), and
        cancellation propagates normally.
        """
        limit = _earliest(timeout, deadline)
        reply: Reply[T] = Reply()
        msg = make(reply)
        asks = self._mailbox._asks
        asks.add(reply)
        try:
            if limit == math.inf:
                # No bound of its own: the caller's scopes bound it (a cancel scope costs
                # microseconds, and this is every request's path).
                await self.tell(msg)
                return await reply.wait()
            with trio.CancelScope(deadline=limit):
                await self.tell(msg)
                return await reply.wait()
        except BaseException:
            reply.abandon()
            raise
        finally:
            asks.discard(reply)
        # Only reached when the deadline fired; an answer set in that same instant still wins.
        if reply.done:
            return await reply.wait()
        reply.abandon()
        raise AskTimeoutError(self.name, timeout)


def _earliest(timeout: float | None, deadline: float | None) -> float:
    limit = float("inf") if deadline is None else deadline
    if timeout is not None:
        if timeout < 0:
            raise ValueError(f"ask timeout must not be negative, got {timeout}")
        limit = min(limit, trio.current_time() + timeout)
    return limit
