import pytest
import trio
import trio.testing

from hubactors.errors import LocalRateLimitError
from hubactors.resilience import RequestQueue


async def enqueue(
    nursery: trio.Nursery,
    queue: RequestQueue,
    order: list[str],
    name: str,
    priority: int,
    deadline: float | None = None,
) -> None:
    async def wait() -> None:
        await queue.wait_turn(priority, deadline)
        order.append(name)

    nursery.start_soon(wait)
    await trio.testing.wait_all_tasks_blocked()


async def test_wakes_by_priority_then_deadline_then_arrival(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RequestQueue(10)
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        await enqueue(nursery, queue, order, "low-first", 5)
        await enqueue(nursery, queue, order, "high-no-deadline", 0)
        await enqueue(nursery, queue, order, "high-late", 0, 500.0)
        await enqueue(nursery, queue, order, "high-early", 0, 100.0)
        await enqueue(nursery, queue, order, "low-second", 5)
        assert len(queue) == 5
        for _ in range(5):
            assert queue.wake() == 1
            await trio.testing.wait_all_tasks_blocked()
    assert order == ["high-early", "high-late", "high-no-deadline", "low-first", "low-second"]
    assert len(queue) == 0


async def test_wake_n_and_wake_all(autojump_clock: trio.testing.MockClock) -> None:
    queue = RequestQueue(10)
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        for i in range(5):
            await enqueue(nursery, queue, order, str(i), 0)
        assert queue.wake(2) == 2
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(order) == ["0", "1"]
        assert queue.wake_all() == 3
    assert len(order) == 5
    assert queue.wake() == 0


async def test_full_queue_refuses_at_once(autojump_clock: trio.testing.MockClock) -> None:
    queue = RequestQueue(2)
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        await enqueue(nursery, queue, order, "a", 0)
        await enqueue(nursery, queue, order, "b", 0)
        with pytest.raises(LocalRateLimitError, match="queue full") as caught:
            await queue.wait_turn(0)
        assert caught.value.retryable
        queue.wake_all()


async def test_deadline_passing_while_queued_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RequestQueue(10)
    with pytest.raises(LocalRateLimitError, match="deadline cannot be met while queued") as caught:
        await queue.wait_turn(0, deadline=3.0)
    assert trio.current_time() == 3.0
    assert not caught.value.retryable
    assert len(queue) == 0


async def test_deadline_already_past_raises_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RequestQueue(10)
    await trio.sleep(5)
    with pytest.raises(LocalRateLimitError, match="deadline"):
        await queue.wait_turn(0, deadline=4.0)
    assert trio.current_time() == 5.0


async def test_expired_waiter_does_not_take_a_later_wake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RequestQueue(10)
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_expect_deadline_error, queue, 2.0)
        await trio.testing.wait_all_tasks_blocked()
        await enqueue(nursery, queue, order, "patient", 1)
        await trio.sleep(5)
        assert len(queue) == 1
        assert queue.wake() == 1
    assert order == ["patient"]


async def _expect_deadline_error(queue: RequestQueue, deadline: float) -> None:
    with pytest.raises(LocalRateLimitError):
        await queue.wait_turn(0, deadline)


async def test_cancelled_waiter_leaves_and_the_next_gets_the_wake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RequestQueue(10)
    order: list[str] = []
    async with trio.open_nursery() as nursery:
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await queue.wait_turn(0)
        assert len(queue) == 0

        scope = trio.CancelScope()

        async def doomed() -> None:
            with scope:
                await queue.wait_turn(0)
                order.append("doomed")

        nursery.start_soon(doomed)
        await trio.testing.wait_all_tasks_blocked()
        await enqueue(nursery, queue, order, "next", 0)
        scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert len(queue) == 1
        assert queue.wake() == 1
    assert order == ["next"]


def test_queue_size_cannot_be_negative() -> None:
    with pytest.raises(ValueError):
        RequestQueue(-1)
