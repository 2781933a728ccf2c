"""A real ``redis-server`` of the test's own, stopped in the middle of a run: with
``on_error = "open"`` the hub goes on with per-process limits, breakers and budgets (one
warning, no hang); with ``"closed"`` each request that needs Redis is refused at once with
``SharedStateUnavailableError``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio

import hubactors
from hubactors import SharedStateUnavailableError
from hubactors.errors import HubError
from hubactors.resilience import BreakerState
from tests.conftest import LogCapture
from tests.shared._support import RedisServer, redis_client, unique_prefix
from tests.shared._upstream import upstream


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(upstream_url: str, redis_url: str, on_error: str, **deployment: Any) -> dict[str, Any]:
    return {
        "redis": {
            "url": redis_url,
            "key_prefix": unique_prefix(),
            "on_error": on_error,
            "timeout": 0.2,
        },
        "limits": {"scope": "redis"},
        "breakers": {"scope": "redis"},
        "deployments": [
            {
                "name": "a",
                "provider": "openai-compatible",
                "model": "gpt-4.1-nano",
                "base_url": upstream_url,
                "rpm": 3,
                "output_cost_per_mtok": 100.0,
                "budget_usd_per_day": 1.0,
                **deployment,
            }
        ],
        "routes": [{"name": "chat", "deployments": ["a"], "max_attempts": 1, "timeout": 0.5}],
    }


def ask() -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}


async def test_open_falls_back_to_per_process_state_at_once(
    server: RedisServer, hub_logs: LogCapture
) -> None:
    await server.wait_ready()
    async with upstream() as up:
        cfg = config(up.url, server.url, "open")
        async with hubactors.open_hub(cfg) as hub:
            await hub.complete(ask())
            await hub.complete(ask())
            async with redis_client(server.url) as client:
                prefix = cfg["redis"]["key_prefix"]
                assert await client.zcard(prefix + "limits:a:rpm") == 2
            server.stop()
            with trio.fail_after(1.0):  # never a hang: at most one timeout, then local
                await hub.complete(ask())
                await hub.complete(ask())
                await hub.complete(ask())
                # The per-process limit (3 a minute) now holds on its own.
                with pytest.raises(HubError):
                    await hub.complete(ask())
        assert hub_logs.text.count("is unavailable") == 1
        assert len(up.arrivals) == 5


async def test_open_keeps_breakers_working_alone_while_redis_is_down(
    server: RedisServer,
) -> None:
    await server.wait_ready()
    breaker = {"min_calls": 1, "failure_rate": 0.5, "open_for": 0.3}
    async with upstream() as up:
        cfg = config(up.url, server.url, "open", rpm=None, breaker=breaker)
        async with hubactors.open_hub(cfg) as hub:
            server.stop()
            up.answer(500)
            with trio.fail_after(1.0), pytest.raises(HubError):
                await hub.complete(ask())
            [status] = hub.status()
            assert status.breaker is BreakerState.OPEN
            # Half-open probes on its own: no process may stay shut because Redis is.
            up.answer(200)
            await trio.sleep(0.35)
            with trio.fail_after(1.0):
                await hub.complete(ask())
        assert len(up.arrivals) == 2


async def test_closed_refuses_at_once_with_a_typed_error(server: RedisServer) -> None:
    await server.wait_ready()
    async with upstream() as up:
        async with hubactors.open_hub(config(up.url, server.url, "closed")) as hub:
            await hub.complete(ask())
            server.stop()
            for _ in range(3):
                started = trio.current_time()
                with pytest.raises(SharedStateUnavailableError):
                    await hub.complete(ask())
                assert trio.current_time() - started < 0.3
        assert len(up.arrivals) == 1


async def test_closed_refuses_a_budgeted_route_while_its_totals_are_out_of_reach(
    server: RedisServer,
) -> None:
    await server.wait_ready()
    async with upstream() as up:
        cfg = config(up.url, server.url, "closed", rpm=None, budget_usd_per_day=None)
        cfg["limits"]["scope"] = "process"
        cfg["routes"][0]["budget_usd_per_month"] = 10.0
        async with hubactors.open_hub(cfg) as hub:
            await hub.complete(ask())
            server.stop()
            await hub.complete(ask())  # served: its spend, sent to Redis, finds it gone
            await trio.sleep(0.6)  # (the budgets are synced in the background)
            with pytest.raises(SharedStateUnavailableError):
                await hub.complete(ask())
        assert len(up.arrivals) == 2
