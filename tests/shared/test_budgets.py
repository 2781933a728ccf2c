"""Spend budgets per route and per deployment: refused with ``BudgetExceededError`` before
anything is sent, counted in memory without Redis and shared by every process with it."""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio

import hubactors
from hubactors import BudgetExceededError
from hubactors.shared import Budget, Budgets
from hubactors.shared._budgets import REFRESH, period_label
from tests.shared._support import REDIS_URL, redis_client, unique_prefix
from tests.shared._upstream import upstream

# The fixture's answer uses 16 input and 363 output tokens: $0.0363 at $100 per million.
COST = 363 * 100 / 1e6


def priced(name: str, url: str, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai-compatible",
        "model": "gpt-4.1-nano",
        "base_url": url,
        "input_cost_per_mtok": 0.0,
        "output_cost_per_mtok": 100.0,
        **options,
    }


def ask() -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}


def test_periods_are_utc_days_and_calendar_months() -> None:
    wall = 1796169599.0  # 2026-12-01 23:59:59 UTC
    assert period_label("day", wall) == "2026-12-01"
    assert period_label("day", wall + 1) == "2026-12-02"
    assert period_label("month", wall) == "2026-12"


def test_a_budget_refuses_once_its_total_is_reached_and_a_new_day_starts_afresh() -> None:
    now = [1796169000.0]
    budgets = Budgets([Budget("route", "chat", "day", 1.0)], wall=lambda: now[0])
    budgets.record("chat", "a", 0.6)
    assert budgets.refusal("route", "chat") is None
    budgets.record("chat", "a", 0.6)
    refused = budgets.refusal("route", "chat")
    assert isinstance(refused, BudgetExceededError) and not refused.retryable
    assert "chat" in str(refused) and "day" in str(refused)
    assert budgets.refusal("deployment", "a") is None  # no budget of its own
    now[0] += 86400
    assert budgets.refusal("route", "chat") is None


async def test_in_memory_a_route_over_budget_is_refused_before_anything_is_sent() -> None:
    async with upstream() as server:
        config = {
            "deployments": [priced("a", server.url)],
            "routes": [{"name": "chat", "deployments": ["a"], "budget_usd_per_day": 0.05}],
        }
        async with hubactors.open_hub(config) as hub:
            await hub.complete(ask())
            await hub.complete(ask())  # $0.036 spent: still under
            with pytest.raises(BudgetExceededError):
                await hub.complete(ask())
            with pytest.raises(BudgetExceededError):
                async with hub.stream(ask()) as events:
                    _ = [event async for event in events]
            spent = hub.shared.budgets.spent("route", "chat", "day")
        assert spent == pytest.approx(2 * COST)
        assert len(server.arrivals) == 2


async def test_a_deployment_over_its_budget_fails_over_to_the_next() -> None:
    async with upstream() as first, upstream() as second:
        config = {
            "deployments": [
                priced("a", first.url, budget_usd_per_month=0.03),
                priced("b", second.url),
            ],
            "routes": [{"name": "chat", "deployments": ["a", "b"]}],
        }
        async with hubactors.open_hub(config) as hub:
            assert (await hub.complete(ask())).deployment == "a"
            assert (await hub.complete(ask())).deployment == "b"
        assert (len(first.arrivals), len(second.arrivals)) == (1, 1)


async def test_budgets_are_shared_by_every_process_through_redis() -> None:
    prefix = unique_prefix()
    async with upstream() as server:
        config = {
            "redis": {"url": REDIS_URL, "key_prefix": prefix},
            "limits": {"scope": "redis"},
            "deployments": [priced("a", server.url)],
            "routes": [{"name": "chat", "deployments": ["a"], "budget_usd_per_day": 0.05}],
        }
        async with hubactors.open_hub(config) as one, hubactors.open_hub(config) as two:
            await one.complete(ask())
            await two.complete(ask())
            await trio.sleep(REFRESH + 0.2)  # each has read the other's spend by now
            for hub in (one, two):
                with pytest.raises(BudgetExceededError):
                    await hub.complete(ask())
        assert len(server.arrivals) == 2
        async with redis_client() as client:
            day = period_label("day", time.time())
            total = await client.get(f"{prefix}budget:route:chat:day:{day}")
            assert total is not None and float(total) == pytest.approx(2 * COST)
            assert 0 < await client.ttl(f"{prefix}budget:route:chat:day:{day}") <= 2 * 86400


async def test_an_answer_from_the_cache_costs_the_budget_nothing() -> None:
    async with upstream() as server:
        config = {
            "cache": {"backend": "memory"},
            "deployments": [priced("a", server.url)],
            "routes": [{"name": "chat", "deployments": ["a"], "budget_usd_per_day": 1.0}],
        }
        async with hubactors.open_hub(config) as hub:
            first = await hub.complete(ask())
            again = await hub.complete(ask())
            assert (first.cached, again.cached) == (False, True)
            assert hub.shared.budgets.spent("route", "chat", "day") == pytest.approx(COST)
        assert len(server.arrivals) == 1
