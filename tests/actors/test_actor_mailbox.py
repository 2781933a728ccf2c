from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing

from hubactors._timing import Backoff
from hubactors.actors import (
    ActorStoppedError,
    AskTimeoutError,
    ChildSpec,
    Mailbox,
    MailboxFullError,
    Reply,
    Supervisor,
)


@dataclass
class Work:
    seconds: float
    reply: Reply[str]


@dataclass
class Observed:
    abandoned: bool
    cancelled: bool
    late_answer_accepted: bool


async def worker(mailbox: Mailbox[Work], seen: list[Observed]) -> None:
    """Does each request in a scope bound to its reply, then tries to answer."""
    async for msg in mailbox.receive:
        with trio.CancelScope() as scope:
            msg.reply.bind(scope)
            await trio.sleep(msg.seconds)
        accepted = msg.reply.set_result(f"slept {msg.seconds:g}")
        seen.append(Observed(msg.reply.abandoned, scope.cancelled_caught, accepted))


async def test_ask_round_trip(autojump_clock: trio.testing.MockClock) -> None:
    mailbox: Mailbox[Work] = Mailbox("worker", 4)
    seen: list[Observed] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker, mailbox, seen)
        answer: str = await mailbox.ref.ask(lambda r: Work(2, r), timeout=5)
        mailbox.close()
    assert answer == "slept 2"
    assert seen == [Observed(abandoned=False, cancelled=False, late_answer_accepted=True)]


async def test_ask_timeout_abandons_the_request_and_cancels_the_bound_work(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[Work] = Mailbox("worker", 4)
    seen: list[Observed] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker, mailbox, seen)
        with pytest.raises(AskTimeoutError) as caught:
            await mailbox.ref.ask(lambda r: Work(10, r), timeout=1)
        assert trio.current_time() == pytest.approx(1)
        await trio.sleep(0.5)  # let the actor observe the abandonment
        mailbox.close()
    assert caught.value.actor == "worker" and caught.value.timeout == 1
    assert seen == [Observed(abandoned=True, cancelled=True, late_answer_accepted=False)]
    # The cancelled work ended at the timeout, not after its 10 seconds.
    assert trio.current_time() == pytest.approx(1.5)


async def test_ask_deadline_is_absolute_and_the_earlier_bound_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[Work] = Mailbox("worker", 4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker, mailbox, [])
        with pytest.raises(AskTimeoutError):
            await mailbox.ref.ask(lambda r: Work(10, r), deadline=trio.current_time() + 2)
        assert trio.current_time() == pytest.approx(2)
        with pytest.raises(AskTimeoutError):
            await mailbox.ref.ask(lambda r: Work(10, r), timeout=50, deadline=3)
        assert trio.current_time() == pytest.approx(3)
        mailbox.close()


async def test_cancelling_the_caller_abandons_the_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[Work] = Mailbox("worker", 4)
    seen: list[Observed] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(worker, mailbox, seen)
        with trio.move_on_after(1) as scope:
            await mailbox.ref.ask(lambda r: Work(10, r))
        assert scope.cancelled_caught  # the caller's cancellation propagated normally
        await trio.sleep(0.5)
        mailbox.close()
    assert seen == [Observed(abandoned=True, cancelled=True, late_answer_accepted=False)]


async def test_ask_raises_the_error_the_actor_answers_with() -> None:
    mailbox: Mailbox[Reply[int]] = Mailbox("failing", 1)

    async def actor() -> None:
        async for reply in mailbox.receive:
            reply.set_exception(LookupError("no such key"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        with pytest.raises(LookupError, match="no such key"):
            await mailbox.ref.ask(lambda r: r)
        mailbox.close()


async def test_ask_times_out_while_waiting_for_room_and_sends_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[Work] = Mailbox("busy", 1)
    mailbox.ref.tell_nowait(Work(0, Reply()))
    with pytest.raises(AskTimeoutError):
        await mailbox.ref.ask(lambda r: Work(0, r), timeout=1)
    assert mailbox.ref.pending == 1


async def test_tell_nowait_on_a_full_mailbox_raises_mailbox_full() -> None:
    mailbox: Mailbox[int] = Mailbox("small", 2)
    mailbox.ref.tell_nowait(1)
    mailbox.ref.tell_nowait(2)
    with pytest.raises(MailboxFullError) as caught:
        mailbox.ref.tell_nowait(3)
    assert caught.value.capacity == 2
    assert mailbox.ref.pending == 2


async def test_tell_waits_for_room(autojump_clock: trio.testing.MockClock) -> None:
    mailbox: Mailbox[int] = Mailbox("small", 1)
    mailbox.ref.tell_nowait(1)
    async with trio.open_nursery() as nursery:

        async def read_later() -> None:
            await trio.sleep(3)
            assert await mailbox.receive.receive() == 1

        nursery.start_soon(read_later)
        await mailbox.ref.tell(2)
        assert trio.current_time() == pytest.approx(3)
    assert mailbox.receive.receive_nowait() == 2


async def test_sending_to_a_closed_mailbox_raises_actor_stopped() -> None:
    mailbox: Mailbox[Work] = Mailbox("gone", 2)
    mailbox.close()
    assert mailbox.closed
    with pytest.raises(ActorStoppedError):
        await mailbox.ref.tell(Work(0, Reply()))
    with pytest.raises(ActorStoppedError):
        mailbox.ref.tell_nowait(Work(0, Reply()))
    with pytest.raises(ActorStoppedError):
        await mailbox.ref.ask(lambda r: Work(0, r))


async def test_a_tell_blocked_on_a_full_mailbox_fails_when_it_is_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[int] = Mailbox("full", 1)
    mailbox.ref.tell_nowait(1)
    async with trio.open_nursery() as nursery:

        async def close_later() -> None:
            await trio.sleep(1)
            mailbox.close()

        nursery.start_soon(close_later)
        with pytest.raises(ActorStoppedError):
            await mailbox.ref.tell(2)
        assert trio.current_time() == pytest.approx(1)


async def test_closing_with_drain_lets_the_actor_finish_queued_messages() -> None:
    mailbox: Mailbox[int] = Mailbox("draining", 4)
    for n in (1, 2, 3):
        mailbox.ref.tell_nowait(n)
    mailbox.close()
    received = [n async for n in mailbox.receive]
    assert received == [1, 2, 3]


async def test_closing_without_drain_fails_unanswered_asks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[Work] = Mailbox("dead", 4)  # nobody reads it
    async with trio.open_nursery() as nursery:

        async def close_later() -> None:
            await trio.sleep(1)
            mailbox.close(drain=False)

        nursery.start_soon(close_later)
        with pytest.raises(ActorStoppedError):
            await mailbox.ref.ask(lambda r: Work(0, r))
    assert mailbox.ref.pending == 0
    assert [m async for m in mailbox.receive] == []


async def test_messages_sent_while_the_actor_restarts_reach_the_next_incarnation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox: Mailbox[str] = Mailbox("survivor", 8)
    handled: list[tuple[int, str]] = []
    incarnations = 0

    async def actor(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal incarnations
        incarnations += 1
        me = incarnations
        task_status.started()
        async for msg in mailbox.receive:
            if msg == "poison":
                raise RuntimeError("poisoned")
            handled.append((me, msg))

    sup = Supervisor(
        "sup",
        [ChildSpec(id="actor", start=actor)],
        backoff=Backoff(initial=2.0, jitter="none"),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await mailbox.ref.tell("before")
        await mailbox.ref.tell("poison")
        await trio.sleep(1)  # the actor crashed and waits 2s to restart
        assert sup.which_children()[0].running is False
        await mailbox.ref.tell("while down 1")
        await mailbox.ref.tell("while down 2")
        assert mailbox.ref.pending == 2
        await trio.sleep(2)
        assert mailbox.ref.pending == 0
        await sup.shutdown()
    assert handled == [(1, "before"), (2, "while down 1"), (2, "while down 2")]
