from __future__ import annotations

import msgspec
import pytest

from hubactors.actors import (
    ChildExited,
    ChildRestarting,
    ChildStarted,
    EventBus,
    SupervisionEvent,
    SupervisorEscalated,
    SupervisorStopped,
)
from tests.conftest import LogCapture

STARTED = ChildStarted(supervisor="s", child="a")
STOPPED = SupervisorStopped(supervisor="s")


def test_subscribers_get_events_in_publish_order_until_they_unsubscribe() -> None:
    bus = EventBus()
    first: list[msgspec.Struct] = []
    second: list[msgspec.Struct] = []
    unsubscribe = bus.subscribe(first.append)
    bus.subscribe(second.append)
    bus.publish(STARTED)
    unsubscribe()
    unsubscribe()  # idempotent
    bus.publish(STOPPED)
    assert first == [STARTED]
    assert second == [STARTED, STOPPED]


def test_a_failing_subscriber_is_logged_and_does_not_break_the_others(
    hub_logs: LogCapture,
) -> None:
    bus = EventBus()
    before: list[msgspec.Struct] = []
    after: list[msgspec.Struct] = []

    def broken(_event: msgspec.Struct) -> None:
        raise ValueError("subscriber bug")

    bus.subscribe(before.append)
    bus.subscribe(broken)
    bus.subscribe(after.append)
    bus.publish(STARTED)  # does not raise
    assert before == [STARTED] and after == [STARTED]
    assert "ERROR event subscriber" in hub_logs.text
    assert "subscriber bug" in hub_logs.text


def test_a_subscriber_may_unsubscribe_while_an_event_is_delivered() -> None:
    bus = EventBus()
    seen: list[msgspec.Struct] = []
    unsubscribe = bus.subscribe(lambda _e: unsubscribe())
    bus.subscribe(seen.append)
    bus.publish(STARTED)
    bus.publish(STOPPED)
    assert seen == [STARTED, STOPPED]


def test_events_round_trip_through_json_as_a_tagged_union() -> None:
    events: list[SupervisionEvent] = [
        STARTED,
        ChildExited(supervisor="s", child="a", reason="crash", error_type="Boom", error="x"),
        ChildRestarting(supervisor="s", child="a", restart_count=1, delay=0.5),
        SupervisorEscalated(supervisor="s", child="a", restarts=4, period=5.0, error="Boom: x"),
        STOPPED,
    ]
    data = msgspec.json.encode(events)
    assert b'"event":"child_exited"' in data
    assert msgspec.json.decode(data, type=list[SupervisionEvent]) == events


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        STARTED.child = "b"  # type: ignore[misc]
