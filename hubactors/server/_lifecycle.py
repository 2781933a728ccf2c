"""Graceful drain: every request in flight holds a ticket; shutting down waits for them.

A :class:`Drain` counts the requests of every surface (WebSocket, OpenAI, Anthropic). Once
it starts, new requests are refused, those in flight get ``grace`` seconds to finish, then
each remaining one is cancelled (its surface tells the client with an in-band error) and
the drain returns when all have unwound.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Literal

import trio
from loguru import logger

from hubactors.server._errors import shutting_down

CancelReason = Literal["client", "shutdown"]


class Ticket:
    """One request in flight: its cancel scope and, once cancelled, why."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.reason: CancelReason | None = None

    def cancel(self, reason: CancelReason) -> None:
        """Cancel the request (the first reason given is kept)."""
        if self.reason is None:
            self.reason = reason
        self.scope.cancel()


class Drain:
    """The requests in flight across the server, and the shutdown that waits for them."""

    def __init__(self) -> None:
        self.draining = False
        self.started = trio.Event()
        self._tickets: set[Ticket] = set()
        self._idle = trio.Event()
        self._idle.set()
        self._cut = trio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._tickets)

    def admit(self) -> Ticket:
        """Count one more request in flight; run it under ``ticket.scope`` and hand the
        ticket back to :meth:`release` when it is over, whatever happened.

        Raises :class:`~hubactors.HubClosedError` while draining.
        """
        if self.draining:
            raise shutting_down()
        ticket = Ticket()
        self._tickets.add(ticket)
        if len(self._tickets) == 1:
            self._idle = trio.Event()
        return ticket

    def release(self, ticket: Ticket) -> None:
        """The request of ``ticket`` is over (idempotent)."""
        self._tickets.discard(ticket)
        if not self._tickets:
            self._idle.set()

    def cut(self) -> None:
        """End the grace now: cancel whatever is still in flight (a second signal does)."""
        self._cut.set()
        for ticket in list(self._tickets):
            ticket.cancel("shutdown")

    async def drain(self, grace: float) -> None:
        """Refuse new requests, wait up to ``grace`` seconds for those in flight, cancel the
        rest and wait for them to unwind."""
        self.draining = True
        self.started.set()
        with trio.move_on_after(grace):
            async with trio.open_nursery() as nursery:

                async def cut_short() -> None:
                    await self._cut.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(cut_short)
                await self._idle.wait()
                nursery.cancel_scope.cancel()
        if self._tickets:
            logger.warning("grace over: cancelling {} request(s) in flight", len(self._tickets))
        self.cut()
        await self._idle.wait()


async def run_until_signal(
    shutdown: Callable[[], Awaitable[None]], cut: Callable[[], None]
) -> signal.Signals:
    """Wait for SIGTERM or SIGINT, then ``shutdown()``; a second signal calls ``cut()``.

    Returns the first signal received. Must run in the main thread (Trio's signal rule).
    """
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        first = signal.Signals(await signals.__anext__())
        logger.info("{}: draining (a second signal cancels what is left)", first.name)
        async with trio.open_nursery() as nursery:

            async def second_signal() -> None:
                async for signum in signals:
                    logger.warning("{}: cancelling the requests still in flight", signum)
                    cut()

            nursery.start_soon(second_signal)
            await shutdown()
            nursery.cancel_scope.cancel()
    return first
