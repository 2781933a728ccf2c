"""The status board: availability rules, saturation, and change notification."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from hubactors.resilience import BreakerState, CircuitBreaker
from hubactors.routing import DeploymentStatus, StatusBoard


def status(name: str = "a", **fields: Any) -> DeploymentStatus:
    return msgspec.structs.replace(DeploymentStatus(name=name), **fields)


def test_fresh_deployment_is_available_and_not_saturated() -> None:
    s = status()
    assert s.available(0.0)
    assert not s.saturated(0.0)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"up": False}, False),
        ({"breaker": "open"}, False),
        ({"breaker": "half_open"}, True),
        ({"healthy": False}, False),
        ({"healthy": False, "breaker": "half_open"}, True),
        ({"cooldown_until": 10.0}, False),
        ({"cooldown_until": 5.0}, True),
    ],
)
def test_available_follows_actor_breaker_cooldown_and_health(
    fields: dict[str, Any], expected: bool
) -> None:
    assert status(**fields).available(5.0) is expected


def test_the_published_breaker_state_is_the_circuit_breakers_own() -> None:
    breaker = CircuitBreaker()
    closed = status(breaker=breaker.state(0.0))
    assert closed.breaker is BreakerState.CLOSED and closed.available(0.0)
    breaker.trip(0.0)
    opened = status(breaker=breaker.state(0.0))
    assert opened.breaker is BreakerState.OPEN and not opened.available(0.0)
    half_open = status(healthy=False, breaker=breaker.state(breaker.config.open_for))
    assert half_open.breaker is BreakerState.HALF_OPEN and half_open.available(0.0)
    assert b'"breaker":"half_open"' in msgspec.json.encode(half_open)


def test_saturated_when_all_slots_are_taken() -> None:
    assert not status(in_flight=3, max_concurrency=4).saturated(0.0)
    assert status(in_flight=4, max_concurrency=4).saturated(0.0)


def test_saturated_until_the_local_rate_limiter_lets_a_request_pass() -> None:
    s = status(rate_limited_until=2.0)
    assert s.saturated(1.9)
    assert not s.saturated(2.0)
    # Saturated is not unavailable: the router waits instead of failing over.
    assert s.available(1.9)


def test_load_and_expected_cost() -> None:
    s = status(in_flight=8, max_concurrency=32, input_price=2.0, output_price=10.0)
    assert s.load == 0.25
    assert s.expected_cost(1_000_000, 100_000) == pytest.approx(3.0)


def test_board_get_and_snapshot_keep_the_order_asked_and_skip_unknown_names() -> None:
    board = StatusBoard([status("a"), status("b")])
    board.publish(status("c", priority=2))
    assert board.get("c") == status("c", priority=2)
    assert board.get("zzz") is None
    assert [s.name for s in board.snapshot(["c", "zzz", "a"])] == ["c", "a"]


def test_publish_replaces_the_previous_snapshot_and_bumps_the_version() -> None:
    board = StatusBoard([status("a")])
    before = board.version
    board.publish(status("a", in_flight=5))
    assert board.get("a") == status("a", in_flight=5)
    assert board.version == before + 1


async def test_wait_for_change_wakes_every_waiter_on_publish() -> None:
    board = StatusBoard([status("a")])
    woken: list[int] = []

    async def waiter(i: int) -> None:
        await board.wait_for_change()
        woken.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(waiter, i)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        board.publish(status("a", in_flight=1))
    assert sorted(woken) == [0, 1, 2]


async def test_wait_for_change_blocks_until_a_publish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    board = StatusBoard([status("a")])
    with trio.move_on_after(5) as scope:
        await board.wait_for_change()
    assert scope.cancelled_caught

    async def publish_later() -> None:
        await trio.sleep(1)
        board.publish(status("a", in_flight=1))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(publish_later)
        start = trio.current_time()
        await board.wait_for_change()
        assert trio.current_time() - start == pytest.approx(1.0)


async def test_wait_for_change_returns_at_once_if_the_version_moved_since() -> None:
    board = StatusBoard([status("a")])
    seen = board.version
    board.publish(status("a", in_flight=1))
    with trio.fail_after(1):
        await board.wait_for_change(since=seen)
