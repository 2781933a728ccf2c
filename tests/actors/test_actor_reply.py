from __future__ import annotations

import pytest
import trio
import trio.testing

from hubactors.actors import Reply


async def test_wait_returns_the_result_and_later_answers_are_dropped() -> None:
    reply: Reply[int] = Reply()
    assert reply.set_result(1) is True
    assert reply.set_result(2) is False
    assert reply.set_exception(ValueError("late")) is False
    assert reply.done and not reply.abandoned
    assert await reply.wait() == 1


async def test_wait_raises_the_exception_set_by_the_actor() -> None:
    reply: Reply[int] = Reply()
    assert reply.set_exception(KeyError("missing")) is True
    with pytest.raises(KeyError, match="missing"):
        await reply.wait()


async def test_wait_blocks_until_answered_from_another_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reply: Reply[str] = Reply()
    async with trio.open_nursery() as nursery:

        async def answer_later() -> None:
            await trio.sleep(1)
            reply.set_result("hi")

        nursery.start_soon(answer_later)
        assert await reply.wait() == "hi"


async def test_abandon_cancels_every_bound_scope_and_drops_answers() -> None:
    reply: Reply[int] = Reply()
    first, second = trio.CancelScope(), trio.CancelScope()
    reply.bind(first)
    reply.bind(second)
    reply.abandon()
    assert reply.abandoned
    assert first.cancel_called and second.cancel_called
    assert reply.set_result(1) is False
    assert reply.set_exception(ValueError()) is False
    assert not reply.done


async def test_binding_to_an_abandoned_reply_cancels_the_scope_at_once() -> None:
    reply: Reply[int] = Reply()
    reply.abandon()
    scope = trio.CancelScope()
    reply.bind(scope)
    assert scope.cancel_called


async def test_abandon_after_an_answer_changes_nothing() -> None:
    reply: Reply[int] = Reply()
    scope = trio.CancelScope()
    reply.bind(scope)
    reply.set_result(3)
    reply.abandon()
    assert not reply.abandoned
    assert not scope.cancel_called
    assert await reply.wait() == 3


async def test_waiting_on_an_abandoned_reply_is_an_error() -> None:
    reply: Reply[int] = Reply()
    reply.abandon()
    with pytest.raises(RuntimeError, match="abandoned"):
        await reply.wait()


async def test_answer_delivers_the_function_result() -> None:
    reply: Reply[int] = Reply()

    async def add(a: int, b: int) -> int:
        await trio.lowlevel.checkpoint()
        return a + b

    await reply.answer(add, 2, 3)
    assert await reply.wait() == 5


async def test_answer_sends_the_error_to_the_asker_without_raising_in_the_actor() -> None:
    reply: Reply[int] = Reply()

    async def fail() -> int:
        raise ValueError("bad request")

    await reply.answer(fail)  # does not raise here
    with pytest.raises(ValueError, match="bad request"):
        await reply.wait()


async def test_answer_is_cancelled_when_the_asker_abandons(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reply: Reply[int] = Reply()
    finished = False

    async def slow() -> int:
        nonlocal finished
        await trio.sleep(10)
        finished = True
        return 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reply.answer, slow)
        await trio.sleep(1)
        reply.abandon()
    assert trio.current_time() == pytest.approx(1)
    assert not finished and not reply.done


async def test_answer_on_an_already_abandoned_reply_never_runs_to_completion() -> None:
    reply: Reply[int] = Reply()
    reply.abandon()
    ran_past_checkpoint = False

    async def work() -> int:
        nonlocal ran_past_checkpoint
        await trio.lowlevel.checkpoint()
        ran_past_checkpoint = True
        return 1

    await reply.answer(work)
    assert not ran_past_checkpoint
