"""Resilience of the whole hub on simulated deployments, in virtual time.

Passive health recovery, the 429 cooldown seen by requests already on their way, adaptive
concurrency, the request queue, waiting for a restarting actor, and closing the hub under
waiting requests.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import (
    ChatResponse,
    HubClosedError,
    HubConfigBuilder,
    LocalRateLimitError,
    NoDeploymentAvailable,
    TextDelta,
)
from hubactors.errors import HubError


def ask(route: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"model": route, "messages": [{"role": "user", "content": "hello"}], **extra}


def statuses(hub: hubactors.Hub) -> dict[str, hubactors.DeploymentStatus]:
    return {s.name: s for s in hub.status()}


async def test_passive_health_alone_brings_an_unhealthy_deployment_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # No active probes (health.interval = 0) and too few calls for the breaker's window:
    # three failures in a row mark "a" unhealthy. It must come back once its outage ends.
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            breaker={"min_calls": 50, "open_for": 10.0},
            simulation={"outages": [{"start": 0.0, "duration": 5.0}], "latency": 0.1},
        )
        .deployment("b", provider="simulated", model="m", simulation={"latency": 0.1})
        .route("chat", ["a", "b"], strategy="failover")
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        during = [await hub.complete(ask()) for _ in range(6)]
        a = statuses(hub)["a"]
        assert not a.healthy and a.breaker == "open"
        assert not a.available(trio.current_time())
        await trio.sleep(12.0)  # the outage is over and the open period has passed
        assert statuses(hub)["a"].breaker == "half_open"
        after = [await hub.complete(ask()) for _ in range(3)]
        a = statuses(hub)["a"]
    assert [r.deployment for r in during] == ["b"] * 6
    assert [r.deployment for r in after] == ["a"] * 3
    assert a.healthy and a.breaker == "closed"
    assert a.requests == 3 + 3  # three failures, then the probe and two more: no storm


async def test_a_failed_half_open_probe_keeps_the_deployment_out_for_longer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            breaker={"min_calls": 50, "open_for": 2.0},
            simulation={"outages": [{"start": 0.0, "duration": 1000.0}], "latency": 0.1},
        )
        .deployment("b", provider="simulated", model="m", simulation={"latency": 0.1})
        .route("chat", ["a", "b"])
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        for _ in range(3):
            await hub.complete(ask())
        opened = trio.current_time()
        await trio.sleep(2.5)
        probe = await hub.complete(ask())  # a's probe fails; b answers
        status = statuses(hub)["a"]
    assert probe.deployment == "b" and probe.attempts == 2
    assert status.breaker == "open"
    # Re-opened from half-open: twice the open period this time.
    assert status.cooldown_until >= opened + 2.5 + 2 * 2.0 - 0.5


async def test_requests_already_sent_to_a_deployment_that_starts_cooling_fail_over_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # All five are routed to "a" before its first 429 arrives; the ones after it must not sit
    # out the 30 s Retry-After inside "a" but move on to "b" straight away.
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            simulation={"rate_limit_rate": 1.0, "retry_after": 30.0},
        )
        .deployment("b", provider="simulated", model="m", simulation={"latency": 0.2})
        .route("chat", ["a", "b"])
        .build()
    )
    responses: list[ChatResponse] = []
    async with hubactors.open_hub(config) as hub:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(lambda: _collect(hub, responses))
        elapsed = trio.current_time() - started
        a = statuses(hub)["a"]
    assert [r.deployment for r in responses] == ["b"] * 5
    assert elapsed < 1.0
    assert a.breaker == "closed" and a.healthy
    assert a.cooldown_until > trio.current_time() + 25


async def _collect(hub: hubactors.Hub, into: list[ChatResponse], **extra: Any) -> None:
    into.append(await hub.complete(ask(**extra)))


async def test_a_request_waits_for_a_restarting_deployment_instead_of_spinning(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "a" crashes on the first call only; its restart takes about 2 s. The caller waits for
    # the restart (event-driven; a busy loop would never let the mock clock move).
    config = (
        HubConfigBuilder()
        .deployment("a", provider="simulated", model="m", simulation={"crash_rate": 1.0})
        .route("chat", ["a"], max_attempts=3, timeout=10.0)
        .supervision(intensity=10, period=60.0, backoff_initial=2.0, backoff_max=2.0)
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        started = trio.current_time()
        with pytest.raises(hubactors.DeploymentCrashedError):
            await hub.complete(ask())
        elapsed = trio.current_time() - started
        status = statuses(hub)["a"]
    assert status.restarts >= 2  # it was retried after each restart
    assert 0 < elapsed < 10.0


async def test_queued_requests_are_served_by_priority_then_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = one_slot(1.0)
    order: list[str] = []

    async def one(hub: hubactors.Hub, label: str, **extra: Any) -> None:
        await hub.complete(ask(**extra))
        order.append(label)

    async with hubactors.open_hub(config) as hub, trio.open_nursery() as nursery:
        nursery.start_soon(lambda: one(hub, "first"))
        await trio.sleep(0.1)  # "first" holds the only slot; the rest queue up
        for label, extra in [
            ("low", {"priority": 5}),
            ("high-late", {"priority": 0, "timeout": 60.0}),
            ("mid", {"priority": 2}),
            ("high-soon", {"priority": 0, "timeout": 30.0}),
        ]:
            nursery.start_soon(lambda label=label, extra=extra: one(hub, label, **extra))
            await trio.sleep(0.01)
    assert order == ["first", "high-soon", "high-late", "mid", "low"]


async def test_a_full_queue_fails_at_once_with_a_rate_limit_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = one_slot(5.0, queue_size=1)
    outcomes: list[str] = []

    async def one(hub: hubactors.Hub) -> None:
        try:
            await hub.complete(ask())
            outcomes.append("ok")
        except LocalRateLimitError as exc:
            outcomes.append(f"{exc.message} at {trio.current_time():.1f}")

    async with hubactors.open_hub(config) as hub, trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(lambda: one(hub))
            await trio.sleep(0.1)
    assert outcomes[0].startswith("queue full (1 requests waiting) at 0.2")
    assert outcomes[1:] == ["ok", "ok"]


async def test_a_deadline_the_rate_limit_cannot_meet_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment("solo", provider="simulated", model="m", rpm=1)
        .route("chat", ["solo"])
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        await hub.complete(ask())  # takes the one request of this minute
        started = trio.current_time()
        with pytest.raises(LocalRateLimitError, match="deadline cannot be met") as info:
            await hub.complete(ask(timeout=10.0))
        assert trio.current_time() - started < 0.5
        assert info.value.retry_after is not None and info.value.retry_after > 10.0
        # With enough time the same request waits its turn and is served.
        response = await hub.complete(ask(timeout=120.0))
    assert response.deployment == "solo"


async def test_adaptive_concurrency_lowers_the_cap_on_overload_and_it_is_enforced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            max_concurrency=8,
            adaptive_concurrency=True,
            breaker={"open_for": 1.0},
            simulation={
                "outages": [{"start": 0.0, "duration": 2.0}],  # 503: the provider is overloaded
                "latency": 5.0,
                "distribution": "fixed",
            },
        )
        .route("chat", ["a"], max_attempts=1)
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        for _ in range(3):
            with pytest.raises(hubactors.ServerError):
                await hub.complete(ask())
        assert statuses(hub)["a"].max_concurrency == 4  # halved once for the burst
        await trio.sleep(3.0)
        await hub.complete(ask())  # the half-open probe closes the breaker
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(lambda: hub.complete(ask()))
            await trio.sleep(1.0)
            assert statuses(hub)["a"].in_flight == 4
            await trio.sleep(5.0)
            assert statuses(hub)["a"].in_flight == 4  # the next four, the cap not yet grown


async def test_adaptive_concurrency_judges_streams_by_time_to_first_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A slow reader makes a stream take long; that is not the deployment being overloaded.
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            max_concurrency=8,
            adaptive_concurrency=True,
            simulation={"ttft": 0.1, "inter_token_delay": 0.001, "output_tokens": 100},
        )
        .route("chat", ["a"])
        .build()
    )

    async def read(hub: hubactors.Hub, pause: float) -> None:
        async with hub.stream(ask()) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    await trio.sleep(pause)

    async with hubactors.open_hub(config) as hub:
        for _ in range(8):
            await read(hub, 0.0)
        for _ in range(4):
            # More events than the driver buffers: the actor's upstream read waits for the
            # reader, ~7 s per stream instead of ~0.2 s.
            await read(hub, 0.2)
        assert statuses(hub)["a"].max_concurrency == 8


async def test_closing_the_hub_answers_waiting_requests_with_hub_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = one_slot(100.0, timeout=1000.0, settings={"shutdown_grace": 1.0})
    errors: list[BaseException] = []

    async def one(hub: hubactors.Hub) -> None:
        try:
            await hub.complete(ask())
        except HubError as exc:
            errors.append(exc)

    async with trio.open_nursery() as outside:
        async with hubactors.open_hub(config) as hub:
            for _ in range(3):  # one in flight, two queued
                outside.start_soon(lambda: one(hub))
            await trio.sleep(0.5)
        closed = trio.current_time()
    assert len(errors) == 3
    assert all(isinstance(e, HubClosedError) for e in errors)
    assert closed < 5.0


async def test_without_any_deployment_able_to_recover_the_request_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            health={"interval": 60.0},
            simulation={"outages": [{"start": 0.0, "duration": 1000.0}]},
        )
        .route("chat", ["a"], max_attempts=1)
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        await trio.sleep(61.0)  # the first probe fails: unhealthy, breaker still closed
        assert not statuses(hub)["a"].healthy
        started = trio.current_time()
        with pytest.raises(NoDeploymentAvailable, match="unhealthy"):
            await hub.complete(ask())
        assert trio.current_time() - started < 0.01


async def test_a_sliding_window_rpm_limit_makes_the_next_request_wait_for_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "solo", provider="simulated", model="m", rpm=2, rate_limit_algorithm="sliding-window"
        )
        .route("chat", ["solo"])
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        await hub.complete(ask())
        await trio.sleep(20.0)
        await hub.complete(ask())
        started = trio.current_time()
        await hub.complete(ask())
        waited = trio.current_time() - started
    # The two-bucket estimate counts the last minute's two requests as spread over it: the
    # third passes once half of the next window has gone by (t = 90 s).
    assert waited == pytest.approx(70.0, abs=0.5)


async def test_slow_calls_open_the_breaker(autojump_clock: trio.testing.MockClock) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            breaker={"min_calls": 4, "slow_call_seconds": 1.0, "slow_call_rate": 0.5},
            simulation=fixed_latency(2.0),
        )
        .deployment("b", provider="simulated", model="m", simulation=fixed_latency(0.1))
        .route("chat", ["a", "b"])
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        served = [(await hub.complete(ask())).deployment for _ in range(6)]
        status = statuses(hub)["a"]
    assert served == ["a"] * 4 + ["b"] * 2  # every answer came, but slowly: open
    assert status.breaker == "open" and status.healthy


def one_slot(
    latency: float, *, settings: dict[str, Any] | None = None, **route: Any
) -> hubactors.HubConfig:
    """One simulated deployment "solo" serving one request at a time, each taking
    ``latency`` seconds, behind the route "chat"."""
    return (
        HubConfigBuilder()
        .deployment(
            "solo",
            provider="simulated",
            model="m",
            max_concurrency=1,
            simulation=fixed_latency(latency),
        )
        .route("chat", ["solo"], **route)
        .set(**(settings or {}))
        .build()
    )


def fixed_latency(seconds: float) -> dict[str, Any]:
    return {"latency": seconds, "distribution": "fixed"}


async def test_active_probes_take_a_deployment_out_and_bring_it_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            health={"interval": 5.0, "max_backoff": 60.0},
            simulation={"outages": [{"start": 0.0, "duration": 12.0}], **fixed_latency(0.1)},
        )
        .deployment("b", provider="simulated", model="m", simulation=fixed_latency(0.1))
        .route("chat", ["a", "b"])
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        await trio.sleep(6.0)  # the probe at 5 s failed
        assert not statuses(hub)["a"].healthy
        during = (await hub.complete(ask())).deployment
        await trio.sleep(8.0)  # backing off: the next probe is 10 s after the first
        assert not statuses(hub)["a"].healthy
        await trio.sleep(2.0)  # the probe at 15 s passes: the outage ended at 12 s
        status = statuses(hub)["a"]
        after = (await hub.complete(ask())).deployment
    assert during == "b" and after == "a"
    assert status.healthy and status.requests == 0  # only probes touched it while down
