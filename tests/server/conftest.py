"""A hub of simulated deployments served on loopback ports picked by the kernel.

The server runs in the test's own nursery on the real clock (its clients are independent
libraries running in threads); the simulated latencies are a few milliseconds so that
every test stays well under a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import trio

import hubactors
from hubactors.server import Server, ServerConfig, open_server

TOKEN = "test-token-" + "t" * 24
T = TypeVar("T")

FAST = {"latency": 0.002, "distribution": "fixed", "ttft": 0.001, "inter_token_delay": 0.0005}


def hub_config(*, max_attempts: int | None = None, **simulation: Any) -> hubactors.HubConfig:
    """One route ``chat`` over one simulated deployment (``simulation`` overrides ``FAST``)."""
    return (
        hubactors.HubConfigBuilder()
        .deployment("sim", provider="simulated", model="sim-large", simulation=FAST | simulation)
        .route("chat", ["sim"], strategy="priority", timeout=10.0, max_attempts=max_attempts)
        .set(shutdown_grace=0.5)
        .build()
    )


def server_config(**options: Any) -> ServerConfig:
    return ServerConfig(**({"port": 0, "http_port": 0, "drain_grace": 0.5} | options))


@asynccontextmanager
async def serving(
    config: hubactors.HubConfig | None = None,
    *,
    token: str | None = TOKEN,
    **options: Any,
) -> AsyncIterator[Server]:
    """A hub and its server; both closed (gracefully) on exit."""
    async with (
        hubactors.open_hub(config or hub_config()) as hub,
        open_server(hub, server_config(**options), token=token) as server,
    ):
        yield server


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with serving() as running:
        yield running


async def in_thread(fn: Callable[[], T], seconds: float = 10.0) -> T:
    """Run a blocking client in a thread; fail (not hang) if it takes longer than that."""
    with trio.fail_after(seconds):
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
