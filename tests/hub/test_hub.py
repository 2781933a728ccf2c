"""The hub end to end on simulated deployments: routing, failover, supervision, streams."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import (
    ChatRequest,
    ChatResponse,
    DeploymentCrashedError,
    Finish,
    HubClosedError,
    HubConfigBuilder,
    InvalidRequestError,
    LocalError,
    Message,
    NoDeploymentAvailable,
    RateLimitError,
    ServerError,
    StreamAccumulator,
    StreamStart,
    TextDelta,
)
from hubactors.actors import SupervisorEscalation


def ask(route: str = "chat", text: str = "hello") -> dict[str, Any]:
    return {"model": route, "messages": [{"role": "user", "content": text}]}


def two_deployments(
    first: dict[str, Any], second: dict[str, Any] | None = None, **route: Any
) -> hubactors.HubConfig:
    return (
        HubConfigBuilder()
        .deployment("a", provider="simulated", model="sim-large", simulation=first)
        .deployment("b", provider="simulated", model="sim-small", simulation=second or {})
        .route("chat", ["a", "b"], **route)
        .supervision(intensity=50, period=10.0)
        .build()
    )


async def test_complete_accepts_a_dict_or_a_request(autojump_clock: trio.testing.MockClock) -> None:
    async with hubactors.open_hub(two_deployments({"seed": 1})) as hub:
        from_dict = await hub.complete(ask())
        from_struct = await hub.complete(
            ChatRequest(model="chat", messages=[Message(role="user", content="hello")])
        )
    for response in (from_dict, from_struct):
        assert isinstance(response, ChatResponse)
        assert response.deployment == "a"
        assert response.provider == "simulated"
        assert response.attempts == 1
        assert response.text
        assert response.usage.output_tokens > 0
        assert response.cost > 0


async def test_a_deployment_name_is_a_route_of_its_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(two_deployments({})) as hub:
        response = await hub.complete(ask("b"))
    assert response.deployment == "b"


async def test_unknown_route_and_bad_input_raise_invalid_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(two_deployments({})) as hub:
        with pytest.raises(InvalidRequestError) as info:
            await hub.complete(ask("nope"))
        assert info.value.field == "model"
        with pytest.raises(InvalidRequestError) as info:
            await hub.complete({"model": "chat", "messages": [{"role": "robot", "content": "x"}]})
        assert info.value.field is not None and "role" in info.value.field


async def test_failover_hides_a_crashing_deployment_and_the_supervisor_restarts_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    restarts: list[object] = []
    async with hubactors.open_hub(two_deployments({"crash_rate": 1.0})) as hub:
        hub.events.subscribe(restarts.append)
        responses = [await hub.complete(ask()) for _ in range(5)]
        status = {s.name: s for s in hub.status()}
    assert all(r.deployment == "b" for r in responses)
    assert responses[0].attempts == 2
    assert status["a"].restarts >= 1
    assert any(type(e).__name__ == "ChildRestarting" for e in restarts)
    metrics = hub.metrics_text()
    assert 'hubactors_actor_restarts_total{child="a",supervisor="deployments"}' in metrics


async def test_a_rate_limited_deployment_cools_down_without_tripping_its_breaker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"rate_limit_rate": 1.0, "retry_after": 5.0})
    async with hubactors.open_hub(config) as hub:
        first = await hub.complete(ask())
        status = {s.name: s for s in hub.status()}
        assert status["a"].breaker == "closed"
        assert status["a"].cooldown_until > trio.current_time()
        second = await hub.complete(ask())
    assert first.deployment == "b" and first.attempts == 2
    # While "a" cools down the router does not even try it.
    assert second.deployment == "b" and second.attempts == 1


async def test_with_one_deployment_its_own_error_is_raised(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment("solo", provider="simulated", model="m", simulation={"error_rate": 1.0})
        .route("chat", ["solo"], max_attempts=3)
        .build()
    )
    async with hubactors.open_hub(config) as hub:
        with pytest.raises(ServerError) as info:
            await hub.complete(ask())
    assert info.value.deployment == "solo"
    assert info.value.retryable


async def test_when_every_deployment_fails_the_error_lists_what_was_tried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"error_rate": 1.0}, {"error_rate": 1.0}, max_attempts=4)
    async with hubactors.open_hub(config) as hub:
        started = trio.current_time()
        with pytest.raises(NoDeploymentAvailable) as info:
            await hub.complete(ask())
        elapsed = trio.current_time() - started
    tried = [name for name, _ in info.value.attempts]
    assert tried[:2] == ["a", "b"]
    assert len(tried) == 4
    assert isinstance(info.value.__cause__, ServerError)
    # Between rounds the driver backs off (jittered) but stays inside the deadline.
    assert 0 < elapsed < 120


async def test_requests_fail_at_the_deadline_not_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"latency": 50.0, "distribution": "fixed"})
    async with hubactors.open_hub(config) as hub:
        started = trio.current_time()
        with pytest.raises(hubactors.TotalTimeoutError, match=r"1 attempt\(s\) \(a\)"):
            await hub.complete({**ask(), "timeout": 3.0})
        assert trio.current_time() - started == pytest.approx(3.0, abs=0.01)


async def test_cancelling_the_caller_frees_the_deployment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"latency": 30.0, "distribution": "fixed"})
    async with hubactors.open_hub(config) as hub:
        with trio.move_on_after(1.0):
            await hub.complete(ask())
        await trio.sleep(0.01)
        status = {s.name: s for s in hub.status()}
        assert status["a"].in_flight == 0
        assert status["a"].breaker == "closed"


async def test_stream_delivers_start_text_and_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(two_deployments({"seed": 3})) as hub:
        acc = StreamAccumulator()
        kinds: list[str] = []
        async with hub.stream(ask()) as events:
            async for event in events:
                acc.add(event)
                kinds.append(type(event).__name__)
    assert kinds[0] == "StreamStart"
    assert kinds[-1] == "Finish"
    assert "TextDelta" in kinds
    response = acc.response()
    assert response.deployment == "a"
    assert response.text
    assert response.cost > 0  # priced by the hub on the way through
    assert acc.finished
    metrics = hub.metrics_text()
    assert 'hubactors_requests_total{deployment="a",outcome="ok",route="chat"} 1.0' in metrics
    assert 'hubactors_tokens_total{deployment="a",kind="output"}' in metrics


async def test_stream_fails_over_before_the_first_token(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(two_deployments({"error_rate": 1.0})) as hub:
        events_seen: list[object] = []
        async with hub.stream(ask()) as events:
            async for event in events:
                events_seen.append(event)
    starts = [e for e in events_seen if isinstance(e, StreamStart)]
    assert [s.deployment for s in starts] == ["b"]
    assert isinstance(events_seen[-1], Finish)


async def test_leaving_a_stream_early_stops_the_deployment_work(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"inter_token_delay": 1.0, "output_tokens": 500})
    async with hubactors.open_hub(config) as hub:
        async with hub.stream(ask()) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        await trio.sleep(0.01)
        assert {s.name: s.in_flight for s in hub.status()} == {"a": 0, "b": 0}


async def test_closed_hub_refuses_requests(autojump_clock: trio.testing.MockClock) -> None:
    async with hubactors.open_hub(two_deployments({})) as hub:
        pass
    with pytest.raises(HubClosedError):
        await hub.complete(ask())


async def test_close_waits_for_in_flight_requests_within_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = two_deployments({"latency": 2.0, "distribution": "fixed"})
    results: list[ChatResponse] = []

    async def one(hub: hubactors.Hub) -> None:
        results.append(await hub.complete(ask()))

    async with trio.open_nursery() as nursery, hubactors.open_hub(config) as hub:
        nursery.start_soon(one, hub)
        await trio.sleep(0.5)
    assert len(results) == 1


async def test_crash_loop_past_every_limit_escalates_out_of_open_hub(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment("a", provider="simulated", model="m", simulation={"crash_rate": 1.0})
        .route("chat", ["a"], max_attempts=1000, timeout=10_000)
        .supervision(intensity=2, period=60.0, backoff_initial=0.01, backoff_max=0.01)
        .build()
    )
    with pytest.raises(SupervisorEscalation):
        async with hubactors.open_hub(config) as hub:
            while True:
                refused = (
                    DeploymentCrashedError,
                    NoDeploymentAvailable,
                    LocalError,
                    RateLimitError,
                )
                with pytest.raises(refused):
                    await hub.complete({**ask(), "timeout": 5.0})


async def test_an_actor_at_its_concurrency_cap_serves_the_next_call_when_a_slot_frees(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = (
        HubConfigBuilder()
        .deployment(
            "one",
            provider="simulated",
            model="m",
            max_concurrency=1,
            simulation={"latency": 1.0, "distribution": "fixed"},
        )
        .build()
    )
    request = ChatRequest(model="one", messages=[Message(role="user", content="hi")])
    finished: list[float] = []
    async with hubactors.open_hub(config) as hub:
        # Straight to the deployment, past the router that would queue the second call.
        deployment = hub._driver._deployments["one"]

        async def call() -> None:
            await deployment.complete(request, estimated_tokens=10, deadline=None)
            finished.append(trio.current_time())

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            nursery.start_soon(call)
        assert hub.status()[0].restarts == 0
    assert [round(t - started, 3) for t in finished] == [1.0, 2.0]


async def test_logs_never_carry_an_api_key(autojump_clock: trio.testing.MockClock) -> None:
    from loguru import logger as root_logger

    from hubactors._logging import logger

    lines: list[str] = []
    root_logger.enable("hubactors")
    sink = root_logger.add(lines.append, format="{message} {extra}", level="DEBUG")
    try:
        secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"
        logger.bind(header=f"Bearer {secret}").warning("upstream said: bad key {}", secret)
    finally:
        root_logger.remove(sink)
        root_logger.disable("hubactors")
    assert lines and "[REDACTED]" in lines[0]
    assert secret not in lines[0]


async def test_a_custom_token_estimator_sizes_requests_for_tpm_limits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Huge:
        def estimate(self, request: ChatRequest) -> int:
            return 9_000

    config = (
        HubConfigBuilder()
        .deployment(
            "a",
            provider="simulated",
            model="m",
            tpm=10_000,
            simulation={"latency": 10.0, "distribution": "fixed"},
        )
        .route("chat", ["a"], timeout=600.0)
        .build()
    )

    async def two_at_once(**options: Any) -> list[float]:
        done: list[float] = []
        async with hubactors.open_hub(config, **options) as hub:
            started = trio.current_time()

            async def one() -> None:
                await hub.complete({**ask(), "max_tokens": 10})
                done.append(trio.current_time() - started)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(one)
                nursery.start_soon(one)
        return sorted(done)

    # Small heuristic estimates fit together; 9,010 reserved tokens each do not, so the
    # second waits until the first settles its real (small) usage.
    assert await two_at_once() == pytest.approx([10.0, 10.0], abs=0.01)
    assert await two_at_once(estimator=Huge()) == pytest.approx([10.0, 20.0], abs=0.01)
