"""Hedged requests: a second copy to another deployment when the first is slow to answer.

``hedge_after`` on a route: a number of seconds, or 0 for "twice the first deployment's
moving-average latency (completions) or time to first token (streams)". The first answer
wins; the other attempt is cancelled and its upstream request closed.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import (
    ChatResponse,
    Finish,
    HubConfigBuilder,
    NoDeploymentAvailable,
    ServerError,
    StreamStart,
    TextDelta,
)
from tests.providers._replay import Planned, replay_server

JSON = "openai/openai-gpt41nano-text-nonstream.json"


def ask(**extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hello"}], **extra}


def fixed(latency: float, **simulation: Any) -> dict[str, Any]:
    return {"latency": latency, "distribution": "fixed", **simulation}


def hedged(
    first: dict[str, Any], second: dict[str, Any], hedge_after: float | None = 1.0, **route: Any
) -> hubactors.HubConfig:
    return (
        HubConfigBuilder()
        .deployment("a", provider="simulated", model="m", simulation=first)
        .deployment("b", provider="simulated", model="m", simulation=second)
        .route("chat", ["a", "b"], strategy="failover", hedge_after=hedge_after, **route)
        .build()
    )


def statuses(hub: hubactors.Hub) -> dict[str, hubactors.DeploymentStatus]:
    return {s.name: s for s in hub.status()}


async def test_a_slow_first_deployment_is_hedged_and_the_faster_answer_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(hedged(fixed(10.0), fixed(0.5))) as hub:
        started = trio.current_time()
        response = await hub.complete(ask())
        elapsed = trio.current_time() - started
        await trio.sleep(0.01)
        status = statuses(hub)
    assert response.deployment == "b"
    assert response.attempts == 2
    assert elapsed == pytest.approx(1.5, abs=0.01)
    # The loser was cancelled, and a cancellation says nothing about its health.
    assert status["a"].in_flight == 0 and status["a"].errors == 0
    assert status["a"].breaker == "closed" and status["a"].healthy


async def test_a_first_deployment_that_answers_in_time_is_not_hedged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(hedged(fixed(0.5), fixed(0.1))) as hub:
        response = await hub.complete(ask())
        status = statuses(hub)
    assert response.deployment == "a" and response.attempts == 1
    assert status["b"].requests == 0


async def test_the_first_deployment_still_wins_if_it_answers_before_the_hedge(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Hedged at 1 s, "a" answers at 2 s, "b" would need 5 s: keep "a", cancel "b".
    async with hubactors.open_hub(hedged(fixed(2.0), fixed(5.0))) as hub:
        started = trio.current_time()
        response = await hub.complete(ask())
        assert trio.current_time() - started == pytest.approx(2.0, abs=0.01)
        await trio.sleep(0.01)
        status = statuses(hub)
    assert response.deployment == "a" and response.attempts == 2
    assert status["b"].requests == 1 and status["b"].in_flight == 0


async def test_without_hedge_after_there_is_no_second_copy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(hedged(fixed(10.0), fixed(0.1), hedge_after=None)) as hub:
        response = await hub.complete(ask())
        status = statuses(hub)
    assert response.deployment == "a" and response.attempts == 1
    assert status["b"].requests == 0


async def test_a_failure_of_one_leg_leaves_the_other_to_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "a" fails with a 500 after 3 s, after the hedge went to "b" (which takes 4 s).
    first = fixed(3.0, error_rate=1.0)
    async with hubactors.open_hub(hedged(first, fixed(4.0))) as hub:
        started = trio.current_time()
        response = await hub.complete(ask())
        elapsed = trio.current_time() - started
    assert response.deployment == "b" and response.attempts == 2
    assert elapsed == pytest.approx(5.0, abs=0.01)


async def test_when_both_legs_fail_the_request_fails_over_as_usual(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = hedged(fixed(3.0, error_rate=1.0), fixed(3.0, error_rate=1.0), max_attempts=2)
    async with hubactors.open_hub(config) as hub:
        with pytest.raises(NoDeploymentAvailable) as info:
            await hub.complete(ask())
    assert sorted(name for name, _ in info.value.attempts) == ["a", "b"]
    assert isinstance(info.value.__cause__, ServerError)


async def test_no_hedge_when_no_other_deployment_is_free(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment("a", provider="simulated", model="m", simulation=fixed(3.0))
        .deployment("b", provider="simulated", model="m", max_concurrency=1, simulation=fixed(9))
        .route("chat", ["a", "b"], hedge_after=1.0)
        .build()
    )
    async with hubactors.open_hub(config) as hub, trio.open_nursery() as nursery:
        nursery.start_soon(lambda: hub.complete({**ask(), "model": "b"}))  # "b" is now full
        await trio.sleep(0.1)
        started = trio.current_time()
        response = await hub.complete(ask())
        # The hedge found nothing free and did not wait for it.
        assert response.deployment == "a" and response.attempts == 1
        assert trio.current_time() - started == pytest.approx(3.0, abs=0.01)


async def test_a_hedged_stream_keeps_the_first_to_produce_content(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = hedged({"ttft": 10.0, "distribution": "fixed"}, {"ttft": 0.2, "distribution": "fixed"})
    async with hubactors.open_hub(config) as hub:
        started = trio.current_time()
        async with hub.stream(ask()) as events:
            seen = [event async for event in events]
        first_content = [e for e in seen if isinstance(e, TextDelta)]
        await trio.sleep(0.01)
        status = statuses(hub)
    assert [e.deployment for e in seen if isinstance(e, StreamStart)] == ["b"]
    assert first_content and isinstance(seen[-1], Finish)
    assert trio.current_time() - started < 2.0
    assert status["a"].in_flight == 0 and status["a"].errors == 0


async def test_hedge_after_zero_follows_the_measured_latency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # "a" answers in 0.5 s, then hangs: with no fixed delay the hedge comes after twice its
    # moving-average latency (about 1 s), and the hung request is closed upstream.
    plan = [Planned(fixture=JSON, hang=0.5)] * 5 + [Planned(hang=math.inf)]
    async with replay_server(plan) as slow, replay_server(Planned(fixture=JSON)) as fast:
        config = (
            HubConfigBuilder()
            .deployment("a", provider="openai-compatible", model="m", base_url=slow.url + "/v1")
            .deployment("b", provider="openai-compatible", model="m", base_url=fast.url + "/v1")
            .route("chat", ["a", "b"], hedge_after=0)
            .build()
        )
        async with hubactors.open_hub(config) as hub:
            warm: list[ChatResponse] = [await hub.complete(ask()) for _ in range(5)]
            started = trio.current_time()
            response = await hub.complete(ask())
            elapsed = trio.current_time() - started
            with trio.fail_after(0.1):
                await slow.wait_for("disconnects", 1)
    assert {r.deployment for r in warm} == {"a"} and len(fast.requests) == 1
    assert response.deployment == "b" and response.attempts == 2
    assert elapsed == pytest.approx(1.0, abs=0.05)


async def test_the_losing_stream_is_closed_upstream(autojump_clock: trio.testing.MockClock) -> None:
    sse = "openai/openai-gpt41nano-text.sse"
    async with (
        replay_server(Planned(hang=math.inf)) as hung,
        replay_server(Planned(fixture=sse)) as good,
    ):
        config = (
            HubConfigBuilder()
            .deployment("a", provider="openai-compatible", model="m", base_url=hung.url + "/v1")
            .deployment("b", provider="openai-compatible", model="m", base_url=good.url + "/v1")
            .route("chat", ["a", "b"], hedge_after=0.5)
            .build()
        )
        async with hubactors.open_hub(config) as hub:
            async with hub.stream(ask()) as events:
                text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
            with trio.fail_after(0.1):
                await hung.wait_for("disconnects", 1)
    assert text
