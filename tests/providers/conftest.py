"""Fixtures for the provider tests: a mock clock and a client pool closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio.testing

from hubactors.providers._http import ClientPool


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture
async def client_pool() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    yield pool
    await pool.aclose()
