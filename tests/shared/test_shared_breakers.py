"""``[breakers] scope = "redis"``: a breaker opened, or a ``Retry-After`` received, by one
hub process is seen by the others within 100 ms, and half-open admits one probe across
all of them. Two hubs in one test stand for two processes: they share nothing but Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import hubactors
from hubactors.errors import HubError
from hubactors.resilience import BreakerState
from tests.shared._support import REDIS_URL, unique_prefix
from tests.shared._upstream import Upstream, upstream

SEEN_WITHIN = 0.1


def config(url: str, prefix: str, **deployment: Any) -> dict[str, Any]:
    return {
        "redis": {"url": REDIS_URL, "key_prefix": prefix, "timeout": 0.2},
        "breakers": {"scope": "redis"},
        "deployments": [
            {
                "name": "a",
                "provider": "openai-compatible",
                "model": "gpt-4.1-nano",
                "base_url": url,
                **deployment,
            }
        ],
        "routes": [{"name": "chat", "deployments": ["a"], "max_attempts": 1, "timeout": 2.0}],
    }


def ask() -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}


def status(hub: hubactors.Hub) -> hubactors.DeploymentStatus:
    [only] = hub.status()
    return only


@asynccontextmanager
async def two_hubs(
    **deployment: Any,
) -> AsyncIterator[tuple[Upstream, hubactors.Hub, hubactors.Hub]]:
    prefix = unique_prefix()
    async with upstream() as server:
        cfg = config(server.url, prefix, **deployment)
        async with hubactors.open_hub(cfg) as one, hubactors.open_hub(cfg) as two:
            yield server, one, two


async def seconds_until(check: Any) -> float:
    started = trio.current_time()
    with trio.fail_after(1.0):
        while not check():  # noqa: ASYNC110 - polls another process's view, by design
            await trio.sleep(0.002)
    return trio.current_time() - started


async def test_a_retry_after_is_a_cooldown_for_every_process_within_100_ms() -> None:
    async with two_hubs() as (server, one, two):
        server.answer(429, {"Retry-After": "5"})
        with pytest.raises(HubError):
            await one.complete(ask())
        now = trio.current_time()
        assert await seconds_until(lambda: status(two).cooldown_until > now + 4) < SEEN_WITHIN
        with pytest.raises(HubError):
            await two.complete(ask())
        assert len(server.arrivals) == 1  # the other process never tried
        async with hubactors.open_hub(two.config) as late:  # one that starts now knows too
            assert status(late).cooldown_until > trio.current_time() + 4


async def test_a_process_that_starts_later_learns_the_news_still_current() -> None:
    prefix = unique_prefix()
    async with upstream() as server:
        cfg = config(server.url, prefix, breaker={"min_calls": 1, "open_for": 5.0})
        async with hubactors.open_hub(cfg) as one:
            server.answer(500)
            with pytest.raises(HubError):
                await one.complete(ask())
            await trio.sleep(0.05)  # the news is written
            async with hubactors.open_hub(cfg) as late:
                assert status(late).breaker is BreakerState.OPEN
                assert status(late).cooldown_until > trio.current_time() + 4


async def test_an_opened_breaker_is_open_everywhere_then_one_probe_closes_it_everywhere() -> None:
    breaker = {"min_calls": 1, "failure_rate": 0.5, "open_for": 0.5}
    async with two_hubs(breaker=breaker) as (server, one, two):
        server.answer(500)
        with pytest.raises(HubError):
            await one.complete(ask())
        assert status(one).breaker is BreakerState.OPEN
        seen = await seconds_until(lambda: status(two).breaker is BreakerState.OPEN)
        assert seen < SEEN_WITHIN
        with pytest.raises(HubError):
            await two.complete(ask())
        assert len(server.arrivals) == 1

        # Once the open period ends, both try at once: one probe reaches the upstream.
        server.answer(200)
        await trio.sleep(0.6)
        outcomes: list[str] = []

        async def attempt(hub: hubactors.Hub) -> None:
            try:
                await hub.complete(ask())
            except HubError as exc:
                outcomes.append(type(exc).__name__)
            else:
                outcomes.append("served")

        async with trio.open_nursery() as nursery:
            for hub in (one, two, one, two):
                nursery.start_soon(attempt, hub)
        assert outcomes.count("served") == 1, outcomes
        assert len(server.arrivals) == 2
        # The probe succeeded: every process's breaker closes.
        for hub in (one, two):
            await seconds_until(lambda hub=hub: status(hub).breaker is BreakerState.CLOSED)
        await one.complete(ask())
        await two.complete(ask())
