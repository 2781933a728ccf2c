"""Starting, stopping, cancelling, dynamic children and the events a supervisor publishes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import pytest
import trio
import trio.testing

from hubactors._timing import Backoff
from hubactors.actors import (
    ChildExited,
    ChildRestarting,
    ChildSpec,
    ChildStarted,
    EventBus,
    RestartStrategy,
    RestartType,
    Supervisor,
    SupervisorEscalation,
    SupervisorStopped,
)
from tests.conftest import LogCapture

if TYPE_CHECKING:
    from conftest import Probe

FAST = Backoff(initial=0.5, maximum=1.0, jitter="none")


class Fatal(BaseException):
    """Stands in for KeyboardInterrupt: not an Exception, must never be swallowed."""


def stoppable(log: list[str], child_id: str, *, ignore_stop: bool = False) -> ChildSpec:
    """A child that finishes when asked to stop (unless told to ignore it), logging how."""
    stop_event = trio.Event()

    async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            if ignore_stop:
                await trio.sleep_forever()
            await stop_event.wait()
            log.append(f"{child_id} stopped")
        except trio.Cancelled:
            log.append(f"{child_id} cancelled at {trio.current_time():g}")
            raise

    return ChildSpec(id=child_id, start=start, stop=stop_event.set, shutdown=2.0)


async def test_shutdown_stops_children_in_reverse_start_order(
    autojump_clock: trio.testing.MockClock,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    log: list[str] = []
    sup = Supervisor("sup", [stoppable(log, c) for c in "abc"], events=bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.shutdown()
    assert log == ["c stopped", "b stopped", "a stopped"]
    assert trio.current_time() == 0
    assert not any(info.running for info in sup.which_children())
    # They returned on their own after stop(), yet the exit reason is the supervisor's stop.
    exits = [(e.child, e.reason) for e in events if isinstance(e, ChildExited)]
    assert exits == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]


async def test_a_child_that_ignores_stop_is_cancelled_after_its_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[str] = []
    children = [stoppable(log, "polite"), stoppable(log, "stubborn", ignore_stop=True)]
    sup = Supervisor("sup", children)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.shutdown()
    assert log == ["stubborn cancelled at 2", "polite stopped"]


async def test_a_child_without_stop_is_cancelled_at_once(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = Supervisor("sup", [probe.spec("plain")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.shutdown()
    assert probe.log == ["start plain", "exit plain"]
    assert trio.current_time() == 0


async def test_a_failing_stop_callback_is_logged_and_the_child_cancelled(
    autojump_clock: trio.testing.MockClock, probe: Probe, hub_logs: LogCapture
) -> None:
    def broken_stop() -> None:
        raise ValueError("stop is broken")

    sup = Supervisor("sup", [probe.spec("c", stop=broken_stop, shutdown=5)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.shutdown()
    assert "stop is broken" in hub_logs.text
    assert trio.current_time() == 0


async def test_cancelling_run_cancels_every_child_at_once(
    autojump_clock: trio.testing.MockClock,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    log: list[str] = []
    children = [stoppable(log, "a", ignore_stop=True), stoppable(log, "b", ignore_stop=True)]
    sup = Supervisor("sup", children, events=bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert sorted(log) == ["a cancelled at 1", "b cancelled at 1"]
    assert events[-1] == SupervisorStopped(supervisor="sup")
    exits = [e for e in events if isinstance(e, ChildExited)]
    assert {(e.child, e.reason) for e in exits} == {("a", "shutdown"), ("b", "shutdown")}
    await sup.shutdown()  # not running any more: returns at once


async def test_events_are_published_in_order(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded
    children = [probe.spec("a", probe.crash_after(1, times=1)), probe.spec("b")]
    sup = Supervisor("s", children, backoff=FAST, events=bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        await sup.shutdown()
    assert events == [
        ChildStarted(supervisor="s", child="a"),
        ChildStarted(supervisor="s", child="b"),
        ChildExited(supervisor="s", child="a", reason="crash", error_type="Boom", error="crash #1"),
        ChildRestarting(supervisor="s", child="a", restart_count=1, delay=0.5),
        ChildStarted(supervisor="s", child="a"),
        # Reverse start order: "a" was (re)started last, so it is stopped first.
        ChildExited(supervisor="s", child="a", reason="shutdown"),
        ChildExited(supervisor="s", child="b", reason="shutdown"),
        SupervisorStopped(supervisor="s"),
    ]


async def test_a_failing_subscriber_does_not_disturb_supervision(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded

    def broken(_event: msgspec.Struct) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    sup = Supervisor("s", [probe.spec("a", probe.crash_after(1, times=1))], events=bus)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        await sup.shutdown()
    assert probe.starts["a"] == 2
    assert sum(isinstance(e, ChildStarted) for e in events) == 2


async def test_exit_events_describe_a_single_error_inside_a_group(
    autojump_clock: trio.testing.MockClock,
    probe: Probe,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded

    async def crash_in_nursery(incarnation: int) -> None:
        if incarnation == 0:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(probe.crash_after(1), 0)
        await trio.sleep_forever()

    sup = Supervisor("s", [probe.spec("a", crash_in_nursery)], events=bus)
    await run_briefly(sup)
    crash = next(e for e in events if isinstance(e, ChildExited) and e.reason == "crash")
    assert (crash.error_type, crash.error) == ("Boom", "crash #1")


async def test_a_base_exception_from_a_child_is_never_swallowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def fatal(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(1)
        raise Fatal

    sup = Supervisor("s", [ChildSpec(id="f", start=fatal)])
    with trio.fail_after(60), pytest.raises(BaseExceptionGroup) as caught:
        await sup.run()
    assert caught.group_contains(Fatal)


async def test_run_reports_started_only_once_every_initial_child_is_up(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    attempts = 0

    async def flaky_start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal attempts
        attempts += 1
        probe.log.append("start db")
        await trio.sleep(1)
        if attempts < 3:
            raise ConnectionError("db not reachable yet")
        task_status.started()
        await trio.sleep_forever()

    children = [ChildSpec(id="db", start=flaky_start), probe.spec("api")]
    sup = Supervisor("s", children, strategy=RestartStrategy.REST_FOR_ONE, backoff=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        # db failed twice before it was up; api (which needs it) started only afterwards.
        assert probe.log == ["start db", "start db", "start db", "start api"]
        assert trio.current_time() == pytest.approx(1 + 0.5 + 1 + 1.0 + 1)
        assert [tuple(i) for i in sup.which_children()] == [("db", True, 2), ("api", True, 0)]
        await sup.shutdown()


async def test_a_child_returning_without_reporting_started_counts_as_a_crash(
    autojump_clock: trio.testing.MockClock,
    recorded: tuple[EventBus, list[msgspec.Struct]],
) -> None:
    bus, events = recorded

    async def lazy(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)

    spec = ChildSpec(id="lazy", start=lazy, restart=RestartType.TRANSIENT)
    sup = Supervisor("s", [spec], events=bus)
    with trio.fail_after(60), pytest.raises(SupervisorEscalation):
        await sup.run()
    crash = next(e for e in events if isinstance(e, ChildExited))
    assert crash.reason == "crash" and crash.error_type == "RuntimeError"


async def test_an_empty_supervisor_returns_at_once_unless_kept_alive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(1):
        await Supervisor("empty", []).run()
    kept = Supervisor("kept", [], auto_shutdown=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(kept.run)
        await trio.sleep(100)
        assert nursery.child_tasks  # still running
        await kept.shutdown()


async def test_run_cannot_be_entered_twice_at_the_same_time(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = Supervisor("s", [probe.spec("a")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(RuntimeError, match="already running"):
            await sup.run()
        await sup.shutdown()


async def run_briefly(sup: Supervisor, seconds: float = 5) -> None:
    with trio.fail_after(seconds + 60):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await trio.sleep(seconds)
            await sup.shutdown()


async def test_shutdown_during_a_restart_delay_returns_without_restarting(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    slow = Backoff(initial=10.0, jitter="none")
    sup = Supervisor("s", [probe.spec("a", probe.crash_after(1))], backoff=slow)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(2)  # "a" crashed at 1 and waits until 11 to restart
        await sup.shutdown()
    assert trio.current_time() == pytest.approx(2)
    assert probe.starts["a"] == 1


async def test_a_supervisor_can_run_again_from_a_fresh_state(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    # Only the first incarnation ever crashes, so only the first run counts a restart.
    sup = Supervisor("s", [probe.spec("a", probe.crash_after(1, times=1))], backoff=FAST)
    restarts_per_run = []
    for _ in range(2):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await trio.sleep(5)
            restarts_per_run.append([info.restarts for info in sup.which_children()])
            await sup.shutdown()
    assert restarts_per_run == [[1], [0]]
    assert probe.starts["a"] == 3
