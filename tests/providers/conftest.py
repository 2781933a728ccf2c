"""Fixtures for the provider tests: a client pool closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubactors.providers._pool import ClientPool


@pytest.fixture
async def client_pool() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    yield pool
    await pool.aclose()
