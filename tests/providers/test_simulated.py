"""The simulated provider: deterministic fates, latencies, outages, streams and tool calls."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import pytest
import trio
import trio.testing

from hubactors.config import DeploymentConfig, Outage, SimulationConfig
from hubactors.errors import (
    ProviderError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from hubactors.model._types import (
    ChatRequest,
    Finish,
    FinishReason,
    Message,
    NamedToolChoice,
    StreamEvent,
    StreamStart,
    TextDelta,
    Tool,
    ToolCallComplete,
    ToolCallDelta,
    UsageEvent,
)
from hubactors.providers._catalog import pricing_for
from hubactors.providers.simulated import PROBE_DELAY, SimulatedCrash, SimulatedProvider


def provider(model: str = "sim-small", *, incarnation: int = 0, **sim: Any) -> SimulatedProvider:
    config = DeploymentConfig(
        name="sim-1", provider="simulated", model=model, simulation=SimulationConfig(**sim)
    )
    return SimulatedProvider(config, started_at=trio.current_time(), incarnation=incarnation)


def ask(text: str = "What is the weather like?", **fields: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message(role="user", content=text)], **fields)


async def outcomes(p: SimulatedProvider, n: int, request: ChatRequest | None = None) -> list[str]:
    """The outcome of ``n`` sequential completions: the error type, or the reply text."""
    out: list[str] = []
    for _ in range(n):
        try:
            response = await p.complete(request or ask())
        except (ProviderError, SimulatedCrash) as exc:
            out.append(type(exc).__name__)
        else:
            out.append(response.text)
    return out


async def collect(p: SimulatedProvider, request: ChatRequest) -> list[tuple[float, StreamEvent]]:
    """Every event of one stream with the Trio time it arrived."""
    events: list[tuple[float, StreamEvent]] = []
    async with p.open_stream(request) as stream:
        async for event in stream:
            events.append((trio.current_time(), event))
    return events


FLAKY: dict[str, Any] = {"error_rate": 0.1, "rate_limit_rate": 0.1, "crash_rate": 0.05}


# --- determinism ---------------------------------------------------------------------------


async def test_same_seed_replays_the_same_outcomes_and_texts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = await outcomes(provider(seed=42, **FLAKY), 200)
    second = await outcomes(provider(seed=42, **FLAKY), 200)
    assert first == second
    assert {"ServerError", "RateLimitError", "SimulatedCrash"} <= set(first)


async def test_different_seeds_give_different_outcomes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert await outcomes(provider(seed=1, **FLAKY), 100) != await outcomes(
        provider(seed=2, **FLAKY), 100
    )


async def test_a_new_incarnation_does_not_replay_its_predecessor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    zero = await outcomes(provider(seed=5, **FLAKY), 100)
    one = await outcomes(provider(seed=5, incarnation=1, **FLAKY), 100)
    again = await outcomes(provider(seed=5, incarnation=1, **FLAKY), 100)
    assert one != zero
    assert one == again


async def test_text_depends_on_seed_and_prompt_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(seed=3)
    a1 = await p.complete(ask("hello"))
    a2 = await p.complete(ask("hello"))
    b = await p.complete(ask("goodbye"))
    other_seed = await provider(seed=4).complete(ask("hello"))
    assert a1.text == a2.text
    assert a1.text != b.text
    assert a1.text != other_seed.text
    assert len(a1.text.split()) == 24  # the default output_tokens
    assert a1.text[0].isupper() and a1.text.endswith(".")


# --- latency -------------------------------------------------------------------------------


async def timed(p: SimulatedProvider, n: int) -> list[float]:
    samples: list[float] = []
    for _ in range(n):
        start = trio.current_time()
        await p.complete(ask())
        elapsed = trio.current_time() - start
        samples.append(elapsed)
    return samples


async def test_fixed_latency_takes_exactly_the_configured_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    samples = await timed(provider(latency=0.3, distribution="fixed"), 20)
    assert samples == pytest.approx([0.3] * 20)


async def test_uniform_latency_stays_within_the_jitter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    samples = await timed(provider(latency=1.0, jitter=0.2, distribution="uniform"), 500)
    assert 0.8 - 1e-9 <= min(samples) < 0.85
    assert 1.15 < max(samples) <= 1.2 + 1e-9
    assert statistics.mean(samples) == pytest.approx(1.0, abs=0.02)


async def test_lognormal_latency_has_the_configured_mean_and_spread(
    autojump_clock: trio.testing.MockClock,
) -> None:
    samples = await timed(provider(latency=0.5, jitter=0.5, distribution="lognormal"), 2000)
    assert min(samples) > 0
    assert statistics.mean(samples) == pytest.approx(0.5, rel=0.05)
    assert max(samples) > 1.0  # a long right tail
    assert statistics.median(samples) < 0.5


# --- failure rates -------------------------------------------------------------------------


async def test_failure_rates_match_the_configuration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rates: dict[str, Any] = {"error_rate": 0.1, "rate_limit_rate": 0.2, "crash_rate": 0.05}
    n = 2000
    counts = Counter(await outcomes(provider(seed=11, latency=0.01, **rates), n))
    again = Counter(await outcomes(provider(seed=11, latency=0.01, **rates), n))
    assert counts == again
    for name, rate in [
        ("ServerError", 0.1),
        ("RateLimitError", 0.2),
        ("SimulatedCrash", 0.05),
    ]:
        sigma = (n * rate * (1 - rate)) ** 0.5
        assert abs(counts[name] - n * rate) < 4 * sigma, (name, counts[name])
    assert sum(counts.values()) == n


async def test_rate_limit_carries_retry_after_and_the_deployment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(rate_limit_rate=1.0, retry_after=7.5)
    start = trio.current_time()
    with pytest.raises(RateLimitError) as info:
        await p.complete(ask())
    assert trio.current_time() == start  # refused at once
    err = info.value
    assert (err.status, err.retry_after, err.retryable) == (429, 7.5, True)
    assert (err.deployment, err.provider) == ("sim-1", "simulated")


async def test_server_error_comes_after_the_latency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(error_rate=1.0, latency=0.4, distribution="fixed")
    start = trio.current_time()
    with pytest.raises(ServerError) as info:
        await p.complete(ask())
    assert trio.current_time() - start == pytest.approx(0.4)
    assert (info.value.status, info.value.deployment, info.value.provider) == (
        500,
        "sim-1",
        "simulated",
    )


async def test_crash_is_not_a_provider_error(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(SimulatedCrash) as info:
        await provider(crash_rate=1.0).complete(ask())
    assert not isinstance(info.value, ProviderError)
    assert isinstance(info.value, RuntimeError)
    assert info.value.deployment == "sim-1"


# --- outages and health --------------------------------------------------------------------


async def test_every_call_in_an_outage_window_fails_with_503(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(latency=0.1, distribution="fixed", outages=[Outage(start=10, duration=5)])
    start = trio.current_time()
    results: dict[float, str] = {}
    for offset in (0.0, 9.5, 10.0, 12.0, 14.9, 15.0, 20.0):
        await trio.sleep_until(start + offset)
        try:
            await p.complete(ask())
        except ServerError as exc:
            assert exc.status == 503
            results[offset] = "outage"
        else:
            results[offset] = "ok"
    assert results == {
        0.0: "ok",
        9.5: "ok",
        10.0: "outage",
        12.0: "outage",
        14.9: "outage",
        15.0: "ok",
        20.0: "ok",
    }


async def test_health_check_fails_only_during_an_outage(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(outages=[Outage(start=5, duration=5)])
    start = trio.current_time()
    await p.health_check()
    assert trio.current_time() - start == pytest.approx(PROBE_DELAY)
    await trio.sleep_until(start + 6)
    with pytest.raises(ServerError) as info:
        await p.health_check()
    assert info.value.status == 503
    await trio.sleep_until(start + 10)
    await p.health_check()


async def test_health_checks_do_not_shift_request_fates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probed = provider(seed=9, **FLAKY)
    for _ in range(5):
        await probed.health_check()
    assert await outcomes(probed, 50) == await outcomes(provider(seed=9, **FLAKY), 50)


# --- responses -----------------------------------------------------------------------------


async def test_response_reports_usage_priced_by_the_deployments_catalog_entry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider("sim-large", output_tokens=10)
    response = await p.complete(ask("x" * 400))
    assert response.usage.input_tokens == 100
    assert response.usage.output_tokens == 10
    # Identity and cost are stamped by the deployment that serves it; the provider prices.
    expected = pricing_for(_config("sim-large")).cost(100, 10)
    assert p.cost_of(response.usage) == pytest.approx(expected)
    assert p.cost_of(response.usage) > 0
    assert response.model == "sim-large"
    assert response.finish_reason is FinishReason.STOP
    assert response.id.startswith("sim-sim-1-")
    assert p.kind == "simulated"
    assert p.pricing() == pricing_for(_config("sim-large"))
    assert p.requests == 1


def _config(model: str) -> DeploymentConfig:
    return DeploymentConfig(name="sim-1", provider="simulated", model=model)


async def test_max_tokens_caps_the_output_with_finish_length(
    autojump_clock: trio.testing.MockClock,
) -> None:
    response = await provider(output_tokens=30).complete(ask(max_tokens=5))
    assert response.usage.output_tokens == 5
    assert len(response.text.split()) == 5
    assert response.finish_reason is FinishReason.LENGTH


async def test_configured_reply_is_returned_as_the_text(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(reply="The answer is 42.")
    assert (await p.complete(ask())).text == "The answer is 42."
    capped = await p.complete(ask(max_tokens=2))
    assert capped.text == "The answer"
    assert capped.finish_reason is FinishReason.LENGTH


WEATHER = Tool(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": ["null", "number"]}},
                "required": ["lat", "lon"],
            },
            "verbose": {"type": "boolean"},
        },
        "required": ["city", "unit", "days", "where"],
    },
)
CLOCK = Tool(name="get_time")


async def test_required_tool_choice_replies_with_a_call_to_the_first_tool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    response = await provider().complete(ask(tools=[WEATHER, CLOCK], tool_choice="required"))
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.text == ""
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.arguments == {
        "city": "sim",
        "unit": "celsius",
        "days": 0,
        "where": {"lat": 0.0, "lon": 0.0},
    }
    assert call.id == "call_sim_0_1"


async def test_named_tool_choice_calls_that_tool(autojump_clock: trio.testing.MockClock) -> None:
    response = await provider().complete(
        ask(tools=[WEATHER, CLOCK], tool_choice=NamedToolChoice("get_time"))
    )
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("get_time", {})]


async def test_named_tool_choice_of_an_unknown_tool_is_an_invalid_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with pytest.raises(ProviderInvalidRequestError) as info:
        await provider().complete(ask(tools=[CLOCK], tool_choice=NamedToolChoice("nope")))
    assert info.value.status == 400


async def test_auto_tool_choice_answers_with_text(autojump_clock: trio.testing.MockClock) -> None:
    response = await provider().complete(ask(tools=[WEATHER], tool_choice="auto"))
    assert response.tool_calls == []
    assert response.text


# --- streams -------------------------------------------------------------------------------


async def test_stream_events_come_in_order_with_ttft_and_inter_token_timing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim: dict[str, Any] = {
        "distribution": "fixed",
        "ttft": 0.2,
        "inter_token_delay": 0.05,
        "output_tokens": 6,
    }
    start = trio.current_time()
    events = await collect(provider(seed=8, **sim), ask())
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["StreamStart"] + ["TextDelta"] * 6 + ["UsageEvent", "Finish"]
    times = [t - start for t, _ in events]
    assert times[0] == pytest.approx(0.0)
    assert times[1:7] == pytest.approx([0.2 + 0.05 * i for i in range(6)])
    start_event = events[0][1]
    assert isinstance(start_event, StreamStart)
    assert start_event.model == "sim-small"  # identity is the deployment's to stamp
    text = "".join(e.text for _, e in events if isinstance(e, TextDelta))
    assert text == (await provider(seed=8, **sim).complete(ask())).text
    usage, finish = events[-2][1], events[-1][1]
    assert isinstance(usage, UsageEvent) and usage.usage.output_tokens == 6
    assert isinstance(finish, Finish) and finish.finish_reason is FinishReason.STOP


async def test_stream_time_to_first_token_scales_with_the_drawn_latency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim: dict[str, Any] = {"latency": 1.0, "jitter": 0.5, "distribution": "uniform", "ttft": 0.1}
    ttfts: list[float] = []
    for seed in range(20):
        start = trio.current_time()
        events = await collect(provider(seed=seed, **sim), ask())
        ttfts.append(next(t for t, e in events if isinstance(e, TextDelta)) - start)
    assert all(0.05 - 1e-9 <= t <= 0.15 + 1e-9 for t in ttfts)
    assert len(set(ttfts)) > 10


async def test_stream_max_tokens_finishes_with_length(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = [e for _, e in await collect(provider(), ask(max_tokens=3))]
    assert sum(isinstance(e, TextDelta) for e in events) == 3
    assert events[-1] == Finish(finish_reason=FinishReason.LENGTH, raw_finish_reason="length")


async def test_stream_tool_call_events(autojump_clock: trio.testing.MockClock) -> None:
    events = [e for _, e in await collect(provider(), ask(tools=[CLOCK], tool_choice="required"))]
    assert [type(e) for e in events] == [
        StreamStart,
        ToolCallDelta,
        ToolCallComplete,
        UsageEvent,
        Finish,
    ]
    delta, complete = events[1], events[2]
    assert isinstance(delta, ToolCallDelta) and (delta.name, delta.arguments) == ("get_time", "{}")
    assert isinstance(complete, ToolCallComplete) and complete.tool_call.id == delta.id


@pytest.mark.parametrize(
    ("sim", "error"),
    [
        ({"error_rate": 1.0}, ServerError),
        ({"rate_limit_rate": 1.0}, RateLimitError),
        ({"crash_rate": 1.0}, SimulatedCrash),
        ({"outages": [Outage(start=0, duration=1)]}, ServerError),
    ],
)
async def test_stream_failures_raise_from_the_iterator_before_any_event(
    autojump_clock: trio.testing.MockClock, sim: dict[str, Any], error: type[Exception]
) -> None:
    seen: list[StreamEvent] = []
    async with provider(**sim).open_stream(ask()) as stream:
        with pytest.raises(error):
            async for event in stream:
                seen.append(event)
    assert seen == []


async def test_outage_starting_mid_stream_interrupts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(
        distribution="fixed",
        ttft=0.1,
        inter_token_delay=0.1,
        output_tokens=20,
        outages=[Outage(start=0.45, duration=10)],
    )
    texts: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async with p.open_stream(ask()) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    texts.append(event.text)
    assert len(texts) == 4  # tokens at 0.1, 0.2, 0.3, 0.4; the outage began at 0.45
    assert info.value.status == 503 and info.value.retryable
    assert info.value.deployment == "sim-1"


async def test_leaving_a_stream_early_stops_it(autojump_clock: trio.testing.MockClock) -> None:
    p = provider(output_tokens=50, inter_token_delay=1.0, distribution="fixed")
    start = trio.current_time()
    async with p.open_stream(ask()) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    assert trio.current_time() - start < 1.0


async def test_cancelling_a_completion_interrupts_the_latency_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    p = provider(latency=10.0, distribution="fixed")
    with trio.move_on_after(1.0) as scope:
        await p.complete(ask())
    assert scope.cancelled_caught
    assert (await outcomes(p, 1))[0]  # the provider still serves afterwards


def test_provider_can_be_created_outside_trio() -> None:
    config = DeploymentConfig(name="d", provider="simulated", model="sim-fast")
    p = SimulatedProvider(config)
    assert p.kind == "simulated"
    assert p.requests == 0

    async def main() -> bool:
        return p.in_outage()

    assert trio.run(main) is False
