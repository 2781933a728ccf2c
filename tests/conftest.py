"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio.testing
from loguru import logger


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Trio's mock clock, jumping ahead whenever every task waits: time-based tests run
    instantly and exactly (pytest-trio uses a fixture that is a Clock as the run's clock)."""
    return trio.testing.MockClock(autojump_threshold=0)


class LogCapture:
    """What hubactors logged while the fixture was active (messages and tracebacks)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def hub_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    logger.enable("hubactors")
    sink = logger.add(capture.write, level="DEBUG", format="{level} {message}\n{exception}")
    try:
        yield capture
    finally:
        logger.remove(sink)
        logger.disable("hubactors")
