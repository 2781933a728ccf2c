"""Children added and removed while the supervisor runs (e.g. one per connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from hubactors._timing import Backoff
from hubactors.actors import (
    ActorStoppedError,
    ChildSpec,
    RestartType,
    Supervisor,
)

if TYPE_CHECKING:
    from conftest import Probe

FAST = Backoff(initial=0.01, maximum=0.1, jitter="none")


def connections() -> Supervisor:
    return Supervisor("connections", [], auto_shutdown=False, backoff=FAST)


async def test_start_child_returns_the_started_value_and_terminate_child_forgets_it(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    async def handler(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started("handle-1")
        await trio.sleep_forever()

    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(probe.spec("other"))
        handle = await sup.start_child(ChildSpec(id="conn-1", start=handler))
        assert handle == "handle-1"
        assert [tuple(i) for i in sup.which_children()] == [
            ("other", True, 0),
            ("conn-1", True, 0),
        ]
        await sup.terminate_child("other")
        assert [i.id for i in sup.which_children()] == ["conn-1"]
        assert probe.log == ["start other", "exit other"]  # terminated, not restarted
        await sup.shutdown()


async def test_a_finished_temporary_child_is_forgotten_and_the_supervisor_stays_up(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(probe.spec("conn", probe.return_after(1), restart="temporary"))
        await trio.sleep(2)
        assert sup.which_children() == []
        await sup.start_child(probe.spec("conn", restart=RestartType.TEMPORARY))
        assert probe.starts["conn"] == 2
        await sup.shutdown()


async def test_a_permanent_dynamic_child_is_restarted_after_a_crash(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(probe.spec("worker", probe.crash_after(1, times=1)))
        await trio.sleep(5)
        assert [tuple(i) for i in sup.which_children()] == [("worker", True, 1)]
        await sup.shutdown()


async def test_start_child_rejects_a_duplicate_id(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(probe.spec("conn"))
        with pytest.raises(ValueError, match="already has"):
            await sup.start_child(probe.spec("conn"))
        assert probe.starts["conn"] == 1
        await sup.shutdown()


async def test_start_child_raises_the_error_of_a_child_that_fails_to_start(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    async def refuses(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)
        raise ConnectionRefusedError("handshake failed")

    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(ConnectionRefusedError, match="handshake failed"):
            await sup.start_child(ChildSpec(id="conn", start=refuses))
        assert sup.which_children() == []
        await trio.sleep(5)  # the failure is not treated as a crash to restart
        await sup.start_child(probe.spec("conn"))
        assert [tuple(i) for i in sup.which_children()] == [("conn", True, 0)]
        await sup.shutdown()


async def test_a_child_started_for_a_caller_who_gave_up_is_terminated(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    async def slow_start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        probe.log.append("starting")
        await trio.sleep(5)
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            probe.log.append("terminated")

    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with trio.move_on_after(1):
            await sup.start_child(ChildSpec(id="conn", start=slow_start))
        await trio.sleep(10)
        assert probe.log == ["starting", "terminated"]
        assert sup.which_children() == []
        await sup.shutdown()


async def test_terminating_an_unknown_child_raises_lookup_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = connections()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(LookupError, match="no child 'ghost'"):
            await sup.terminate_child("ghost")
        await sup.shutdown()


async def test_commands_to_a_supervisor_that_is_not_running_raise_actor_stopped(
    autojump_clock: trio.testing.MockClock, probe: Probe
) -> None:
    sup = connections()
    with pytest.raises(ActorStoppedError):
        await sup.start_child(probe.spec("early"))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.shutdown()
    with pytest.raises(ActorStoppedError):
        await sup.start_child(probe.spec("late"))
    with pytest.raises(ActorStoppedError):
        await sup.terminate_child("late")
    assert probe.starts == {}
