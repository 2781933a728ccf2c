"""Hedged attempts: race a second copy of a request against a slow first one.

The first attempt starts at once; if it has not answered after ``delay`` seconds, the same
request goes to a second deployment as well. The first answer wins and the other attempt
is cancelled -- for a provider actor, that closes its upstream HTTP request at once. A
failed attempt leaves the other to answer; only when every attempt failed does the race
fail, with the last error.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

from hubactors.errors import AttemptError

T = TypeVar("T")


@dataclass(frozen=True)
class Hedge(Generic[T]):
    """What a race needs from its driver.

    ``attempt(deployment)`` serves the request there (raising ``AttemptError`` on failure,
    and recording the attempt itself); ``discard(value)`` releases an answer that lost;
    ``second(running)`` picks the hedge's deployment (``None``: no hedge);
    ``won(deployment)`` hears which attempt's answer the race returns.
    """

    attempt: Callable[[str], Awaitable[T]]
    discard: Callable[[T], Awaitable[None]]
    second: Callable[[set[str]], Awaitable[str | None]]
    won: Callable[[str], None] = lambda deployment: None


@dataclass
class _Leg(Generic[T]):
    deployment: str
    outcome: T | AttemptError


async def race(first: str, delay: float, hedge: Hedge[T]) -> T:
    """Attempt ``first``, hedged after ``delay`` seconds (``inf``: never); return the first
    answer. Raises the last ``AttemptError`` when every attempt failed. Cancellation
    cancels every attempt; an answer that will not be returned is discarded."""
    send, receive = trio.open_memory_channel[_Leg[T]](math.inf)
    running: set[str] = set()
    winner: list[T] = []  # the one answer that came first
    winning: list[str] = []  # and the deployment it came from
    last_error: list[AttemptError] = []

    async def leg(name: str) -> None:
        try:
            send.send_nowait(_Leg(name, await hedge.attempt(name)))
        except AttemptError as exc:
            send.send_nowait(_Leg(name, exc))

    try:
        try:
            async with trio.open_nursery() as nursery:

                def launch(name: str) -> None:
                    running.add(name)
                    nursery.start_soon(leg, name)

                launch(first)
                hedge_at = trio.current_time() + delay
                while running and not winner:
                    # Every attempt ends by the request's deadline (its own timeout).
                    with trio.move_on_at(hedge_at):
                        done = await receive.receive()
                        running.discard(done.deployment)
                        if isinstance(done.outcome, AttemptError):
                            last_error[:] = [done.outcome]
                        else:
                            winner.append(done.outcome)
                            winning.append(done.deployment)
                        continue
                    hedge_at = math.inf
                    second = await hedge.second(set(running))
                    if second is not None:
                        launch(second)
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise _single(group) from None
    except BaseException:
        # E.g. cancelled while the loser was stopping: the winner is never returned.
        await _discard(winner, hedge.discard)
        raise
    finally:
        # A loser that answered in the same instant as the winner must not leak.
        await _discard(_answers_left(receive), hedge.discard)
    if not winner:
        raise last_error[0]
    hedge.won(winning[0])
    return winner[0]


def _answers_left(receive: trio.MemoryReceiveChannel[_Leg[T]]) -> list[T]:
    left: list[T] = []
    while True:
        try:
            leg = receive.receive_nowait()
        except trio.WouldBlock:
            return left
        if not isinstance(leg.outcome, AttemptError):
            left.append(leg.outcome)


async def _discard(values: list[T], discard: Callable[[T], Awaitable[None]]) -> None:
    with trio.CancelScope(shield=True):
        for value in values:
            await discard(value)


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, else the group itself."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
