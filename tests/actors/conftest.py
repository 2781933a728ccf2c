"""Shared fixtures for the actor runtime tests: scriptable children and an event recorder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from hubactors.actors import ChildSpec, EventBus

Behaviour = Callable[[int], Awaitable[None]]


class Boom(Exception):
    """The crash test children raise."""


async def forever(_incarnation: int) -> None:
    await trio.sleep_forever()


def crash_after(seconds: float, *, times: int | None = None) -> Behaviour:
    """Crash ``seconds`` after starting, for the first ``times`` incarnations (None: always)."""

    async def behave(incarnation: int) -> None:
        if times is None or incarnation < times:
            await trio.sleep(seconds)
            raise Boom(f"crash #{incarnation + 1}")
        await trio.sleep_forever()

    return behave


def return_after(seconds: float, *, times: int | None = None) -> Behaviour:
    """Return normally ``seconds`` after starting, for the first ``times`` incarnations."""

    async def behave(incarnation: int) -> None:
        if times is None or incarnation < times:
            await trio.sleep(seconds)
            return
        await trio.sleep_forever()

    return behave


class Probe:
    """Builds child specs whose starts, exits and start times are recorded."""

    Boom = Boom
    forever = staticmethod(forever)
    crash_after = staticmethod(crash_after)
    return_after = staticmethod(return_after)

    def __init__(self) -> None:
        self.starts: Counter[str] = Counter()
        self.log: list[str] = []
        self.start_times: dict[str, list[float]] = {}

    def spec(self, child_id: str, behave: Behaviour = forever, **kwargs: Any) -> ChildSpec:
        async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            incarnation = self.starts[child_id]
            self.starts[child_id] += 1
            self.start_times.setdefault(child_id, []).append(trio.current_time())
            self.log.append(f"start {child_id}")
            task_status.started()
            try:
                await behave(incarnation)
            finally:
                self.log.append(f"exit {child_id}")

        return ChildSpec(id=child_id, start=start, **kwargs)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def recorded() -> tuple[EventBus, list[msgspec.Struct]]:
    bus = EventBus()
    events: list[msgspec.Struct] = []
    bus.subscribe(events.append)
    return bus, events
