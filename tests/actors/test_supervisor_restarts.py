"""Which children a supervisor restarts, when, and when it gives up."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

import msgspec
import pytest
import trio
import trio.testing

from hubactors._timing import Backoff
from hubactors.actors import (
    ChildRestarting,
    EventBus,
    RestartStrategy,
    RestartType,
    Supervisor,
    SupervisorEscalated,
    SupervisorEscalation,
)

if TYPE_CHECKING:
    from conftest import Probe

FAST = Backoff(initial=0.01, maximum=0.1, jitter="none")


async def run_for(sup: Supervisor, seconds: float) -> None:
    """Run ``sup`` for ``seconds`` of mock time, then shut it down gracefully."""
    with trio.fail_after(seconds + 60):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await trio.sleep(seconds)
            await sup.shutdown()


@pytest.mark.parametrize(
    ("strategy", "starts", "after_crash"),
    [
        (RestartStrategy.ONE_FOR_ONE, {"a": 1, "b": 2, "c": 1}, ["exit b", "start b"]),
        (
            RestartStrategy.ONE_FOR_ALL,
            {"a": 2, "b": 2, "c": 2},
            ["exit b", "exit c", "exit a", "start a", "start b", "start c"],
        ),
        (
            RestartStrategy.REST_FOR_ONE,
            {"a": 1, "b": 2, "c": 2},
            ["exit b", "exit c", "start b", "start c"],
        ),
    ],
)
async def test_strategy_decides_which_children_restart_and_in_what_order(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    strategy: RestartStrategy,
    starts: dict[str, int],
    after_crash: list[str],
) -> None:
    children = [
        probe.spec("a"),
        probe.spec("b", probe.crash_after(1, times=1)),
        probe.spec("c"),
    ]
    sup = Supervisor("sup", children, strategy=strategy, backoff=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert probe.log == ["start a", "start b", "start c"]
        await trio.sleep(5)
        assert dict(probe.starts) == starts
        assert probe.log[3:] == after_crash
        assert all(info.running for info in sup.which_children())
        await sup.shutdown()


async def test_permanent_child_restarts_even_after_a_normal_exit(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = Supervisor("sup", [probe.spec("p", probe.return_after(1, times=2))], backoff=FAST)
    await run_for(sup, 10)
    assert probe.starts["p"] == 3


async def test_transient_child_restarts_only_after_a_crash(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    async def crash_then_finish(incarnation: int) -> None:
        await trio.sleep(1)
        if incarnation == 0:
            raise probe.Boom("first run fails")

    children = [
        probe.spec("anchor"),
        probe.spec("t", crash_then_finish, restart=RestartType.TRANSIENT),
    ]
    sup = Supervisor("sup", children, backoff=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        assert probe.starts["t"] == 2  # crashed once, then finished normally: not restarted
        assert [tuple(i) for i in sup.which_children()] == [("anchor", True, 0), ("t", False, 1)]
        await sup.shutdown()


async def test_temporary_child_never_restarts_and_is_forgotten(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    children = [
        probe.spec("anchor"),
        probe.spec("tmp", probe.crash_after(1), restart=RestartType.TEMPORARY),
    ]
    sup = Supervisor("sup", children, backoff=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        assert probe.starts["tmp"] == 1
        assert [i.id for i in sup.which_children()] == ["anchor"]
        await sup.shutdown()


async def test_run_returns_once_no_child_is_left_to_run(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    children = [
        probe.spec("job", probe.return_after(2), restart=RestartType.TRANSIENT),
        probe.spec("once", probe.return_after(3), restart=RestartType.TEMPORARY),
    ]
    sup = Supervisor("sup", children, backoff=FAST)
    with trio.fail_after(60):
        await sup.run()
    assert trio.current_time() == pytest.approx(3)


async def test_intensity_plus_one_crashes_within_the_period_escalate(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    children = [probe.spec("sibling"), probe.spec("bad", probe.crash_after(0.1))]
    sup = Supervisor("sup", children, intensity=3, period=5, backoff=FAST, events=bus)
    with trio.fail_after(60), pytest.raises(SupervisorEscalation) as caught:
        await sup.run()
    assert probe.starts["bad"] == 4  # intensity 3: the 4th crash tips it over
    assert probe.log[-1] == "exit sibling"  # siblings are stopped before it raises
    escalation = caught.value
    assert (escalation.supervisor, escalation.child, escalation.restarts) == ("sup", "bad", 4)
    assert isinstance(escalation.__cause__, probe.Boom)
    assert str(escalation.__cause__) == "crash #4"
    escalated = [e for e in events if isinstance(e, SupervisorEscalated)]
    assert escalated == [
        SupervisorEscalated(
            supervisor="sup", child="bad", restarts=4, period=5, error="Boom: crash #4"
        )
    ]


async def test_zero_intensity_escalates_on_the_first_restart(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = Supervisor("sup", [probe.spec("bad", probe.crash_after(1))], intensity=0)
    with trio.fail_after(60), pytest.raises(SupervisorEscalation):
        await sup.run()
    assert probe.starts["bad"] == 1


async def test_crashes_spread_beyond_the_period_do_not_escalate(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    # A crash every ~2s: any 5s window holds at most 3 restarts, never more than intensity.
    sup = Supervisor(
        "sup",
        [probe.spec("flaky", probe.crash_after(2))],
        intensity=3,
        period=5,
        backoff=FAST,
        rng=random.Random(0),
    )
    await run_for(sup, 30)
    assert probe.starts["flaky"] >= 14


async def test_restart_delay_grows_with_recent_restarts(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    backoff = Backoff(initial=0.5, multiplier=2.0, maximum=30.0, jitter="none")
    sup = Supervisor(
        "sup",
        [probe.spec("c", probe.crash_after(0, times=4))],
        intensity=10,
        period=60,
        backoff=backoff,
        rng=random.Random(42),
        events=bus,
    )
    await run_for(sup, 20)
    times = probe.start_times["c"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == pytest.approx([0.5, 1.0, 2.0, 4.0])
    restarting = [e for e in events if isinstance(e, ChildRestarting)]
    assert [(e.restart_count, e.delay) for e in restarting] == [
        (1, 0.5),
        (2, 1.0),
        (3, 2.0),
        (4, 4.0),
    ]


async def test_restart_delays_are_jittered_with_the_given_rng(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    backoff = Backoff(initial=1.0, maximum=30.0, jitter="full")
    sup = Supervisor(
        "sup",
        [probe.spec("c", probe.crash_after(0, times=3))],
        intensity=10,
        period=60,
        backoff=backoff,
        rng=random.Random(7),
        events=bus,
    )
    await run_for(sup, 20)
    expected_rng = random.Random(7)
    expected = [backoff.delay(n, expected_rng) for n in (1, 2, 3)]
    delays = [e.delay for e in events if isinstance(e, ChildRestarting)]
    assert delays == pytest.approx(expected)
    times = probe.start_times["c"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == pytest.approx(expected)


async def test_an_inner_supervisor_escalates_and_the_parent_restarts_it(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    # The worker crashes on its first two runs: inner (intensity 1) gives up on the 2nd.
    inner = Supervisor(
        "inner", [probe.spec("worker", probe.crash_after(1, times=2))], intensity=1, events=bus
    )
    outer = Supervisor("outer", [probe.spec("peer"), inner.child_spec()], events=bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(outer.run)
        await trio.sleep(10)
        assert probe.starts == {"peer": 1, "worker": 3}
        assert [tuple(i) for i in outer.which_children()] == [
            ("peer", True, 0),
            ("inner", True, 1),
        ]
        assert [tuple(i) for i in inner.which_children()] == [("worker", True, 0)]
        await outer.shutdown()
    escalated = [e for e in events if isinstance(e, SupervisorEscalated)]
    assert [e.supervisor for e in escalated] == ["inner"]
    restarting = [e for e in events if isinstance(e, ChildRestarting)]
    assert [(e.supervisor, e.child) for e in restarting] == [
        ("inner", "worker"),
        ("outer", "inner"),
    ]


async def test_escalation_propagates_up_a_tree_that_keeps_failing(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    inner = Supervisor("inner", [probe.spec("worker", probe.crash_after(1))], intensity=1)
    outer = Supervisor("outer", [inner.child_spec()], intensity=2)
    with trio.fail_after(600), pytest.raises(SupervisorEscalation) as caught:
        await outer.run()
    assert caught.value.supervisor == "outer" and caught.value.child == "inner"
    cause = caught.value.__cause__
    assert isinstance(cause, SupervisorEscalation) and cause.supervisor == "inner"
    assert probe.starts["worker"] == 2 * 3  # inner ran 3 times, 2 crashes each


async def test_group_restarts_leave_temporary_siblings_stopped(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    children = [
        probe.spec("tmp", restart=RestartType.TEMPORARY),
        probe.spec("a", probe.crash_after(1, times=1)),
        probe.spec("b"),
    ]
    sup = Supervisor("sup", children, strategy=RestartStrategy.ONE_FOR_ALL, backoff=FAST)
    await run_for(sup, 5)
    assert dict(probe.starts) == {"tmp": 1, "a": 2, "b": 2}
