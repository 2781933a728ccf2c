"""Resilience end to end: a hub of OpenAI-compatible deployments against scripted HTTP servers.

Each server (``tests/providers/_replay.py``) injects one kind of fault -- 5xx, 429 with
Retry-After, a hang before the headers, a stall or a cut mid-stream, malformed SSE -- and
records what it received, so the tests see the hub from both sides. Everything runs on
``MockClock(autojump_threshold=0)``: timeouts and backoffs take no real time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import (
    ChatResponse,
    Finish,
    HubConfigBuilder,
    LocalRateLimitError,
    NoDeploymentAvailable,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    StreamStart,
    TextDelta,
)
from hubactors.errors import (
    AuthenticationError,
    HubError,
    ProviderInvalidRequestError,
    StreamIdleTimeoutError,
)
from hubactors.model._tokens import estimate_request_tokens
from hubactors.model._types import ChatRequest, Message
from tests.providers._replay import FIXTURES, Planned, ReplayServer, replay_server

SSE = "openai/openai-gpt41nano-text.sse"
JSON = "openai/openai-gpt41nano-text-nonstream.json"
FULL_TEXT = json.loads((FIXTURES / "openai/openai-gpt41nano-text.expected.json").read_text())[
    "text"
]
SERVER_ERROR = Planned(
    status=500, body=b'{"error": {"message": "boom", "type": "server_error"}}', framing="length"
)
OK = Planned(fixture=JSON)
STREAM_OK = Planned(fixture=SSE)
SSE_BYTES = (FIXTURES / SSE).read_bytes()
# The first event only opens the assistant message (empty content); the second has text.
FIRST_EVENT_END = SSE_BYTES.index(b"\n\n") + 2
CONTENT_EVENTS_END = SSE_BYTES.index(b"\n\n", SSE_BYTES.index(b"\n\n", FIRST_EVENT_END) + 2) + 2


def rate_limited(retry_after: float) -> Planned:
    body = b'{"error": {"message": "slow down", "type": "rate_limit_exceeded"}}'
    return Planned(status=429, body=body, headers={"Retry-After": f"{retry_after:g}"})


@asynccontextmanager
async def servers(*plans: Planned | Sequence[Planned]) -> AsyncIterator[list[ReplayServer]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(replay_server(plan)) for plan in plans]


def http_config(
    deployments: Sequence[tuple[str, str]],
    *,
    route: dict[str, Any] | None = None,
    **options: Any,
) -> hubactors.HubConfig:
    """Deployments ``(name, url)`` of OpenAI-compatible hosts behind the route ``chat``."""
    builder = HubConfigBuilder()
    for name, url in deployments:
        builder.deployment(
            name,
            provider="openai-compatible",
            model="gpt-4.1-nano",
            base_url=url + "/v1",
            **options,
        )
    return builder.route("chat", [name for name, _ in deployments], **(route or {})).build()


@asynccontextmanager
async def one_host(
    plan: Planned | Sequence[Planned], **options: Any
) -> AsyncIterator[tuple[ReplayServer, hubactors.Hub]]:
    """A hub whose route ``chat`` has one deployment ``a``, served by ``plan``."""
    async with (
        replay_server(plan) as server,
        hubactors.open_hub(http_config([("a", server.url)], **options)) as hub,
    ):
        yield server, hub


def ask(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}


def statuses(hub: hubactors.Hub) -> dict[str, hubactors.DeploymentStatus]:
    return {s.name: s for s in hub.status()}


async def read_all(hub: hubactors.Hub, request: dict[str, Any]) -> list[Any]:
    async with hub.stream(request) as events:
        return [event async for event in events]


def text_of(events: Sequence[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- circuit breaker -------------------------------------------------------------------------


async def test_the_breaker_opens_on_its_failure_rate_and_recovers_through_half_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan = [SERVER_ERROR, OK, OK, SERVER_ERROR, SERVER_ERROR, OK]
    breaker = {"min_calls": 5, "failure_rate": 0.6, "window": 60.0, "open_for": 10.0}
    async with servers(plan) as [server]:
        config = http_config([("a", server.url)], route={"max_attempts": 1}, breaker=breaker)
        async with hubactors.open_hub(config) as hub:
            outcomes = []
            for _ in range(5):
                try:
                    await hub.complete(ask())
                    outcomes.append("ok")
                except ServerError:
                    outcomes.append("500")
            assert outcomes == ["500", "ok", "ok", "500", "500"]
            assert statuses(hub)["a"].breaker == "open"
            # Open: refused without a request, at once, when the deadline is too close.
            with pytest.raises(NoDeploymentAvailable, match="circuit open"):
                await hub.complete(ask(timeout=5.0))
            assert len(server.requests) == 5
            # A caller with time to spare waits for half-open; its probe closes the breaker.
            started = trio.current_time()
            response = await hub.complete(ask(timeout=30.0))
            assert 9.0 < trio.current_time() - started <= 10.0
            assert statuses(hub)["a"].breaker == "closed"
    assert response.text and len(server.requests) == 6


async def test_client_errors_do_not_trip_the_breaker_and_are_not_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bad_request = Planned(status=400, fixture="openai/openai-error-unsupported-parameter.json")
    unauthorized = Planned(
        status=401, body=b'{"error": {"message": "bad key", "type": "invalid_request_error"}}'
    )
    async with servers([bad_request, unauthorized] * 10) as [server]:
        config = http_config([("a", server.url)], breaker={"min_calls": 4})
        async with hubactors.open_hub(config) as hub:
            for i in range(20):
                expected = ProviderInvalidRequestError if i % 2 == 0 else AuthenticationError
                with pytest.raises(expected):
                    await hub.complete(ask())
            status = statuses(hub)["a"]
    assert status.breaker == "closed" and status.healthy
    assert len(server.requests) == 20


# --- 429s, retries and the deadline ----------------------------------------------------------


async def test_a_429_storm_fails_over_without_tripping_the_breaker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with servers(rate_limited(1.0), OK) as [storm, calm]:
        config = http_config([("a", storm.url), ("b", calm.url)], breaker={"min_calls": 2})
        async with hubactors.open_hub(config) as hub:
            responses: list[ChatResponse] = []
            for _ in range(30):
                responses.append(await hub.complete(ask()))
                await trio.sleep(0.2)
            status = statuses(hub)["a"]
    assert {r.deployment for r in responses} == {"b"}
    assert all(r.attempts <= 2 for r in responses)
    assert status.breaker == "closed" and status.healthy
    # One try per Retry-After second, not one per request.
    assert 5 <= len(storm.requests) <= 7
    assert len(calm.requests) == 30


async def test_a_retry_honours_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    async with one_host([rate_limited(2.0), OK]) as (server, hub):
        started = trio.current_time()
        response = await hub.complete(ask(timeout=10.0))
        elapsed = trio.current_time() - started
    assert response.attempts == 2
    assert 2.0 <= elapsed < 2.1
    assert len(server.requests) == 2


async def test_a_retry_after_beyond_the_deadline_fails_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with one_host([rate_limited(30.0), OK]) as (server, hub):
        started = trio.current_time()
        with pytest.raises(RateLimitError) as info:
            await hub.complete(ask(timeout=10.0))
        elapsed = trio.current_time() - started
    assert info.value.retry_after == 30.0
    assert elapsed < 0.1
    assert len(server.requests) == 1


async def test_server_errors_are_retried_with_backoff_but_never_past_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with servers(SERVER_ERROR) as [server]:
        config = http_config(
            [("a", server.url)],
            route={"max_attempts": 100, "timeout": 6.0},
            breaker={"min_calls": 1000, "open_for": 0.5},
        )
        async with hubactors.open_hub(config) as hub:
            started = trio.current_time()
            with pytest.raises((ServerError, NoDeploymentAvailable)) as info:
                await hub.complete(ask())
            elapsed = trio.current_time() - started
    assert elapsed < 6.0
    assert 3 <= len(server.requests) < 100
    error = info.value
    assert isinstance(error, ServerError) or isinstance(error.__cause__, ServerError)


async def test_a_refused_connection_fails_over(autojump_clock: trio.testing.MockClock) -> None:
    with trio.socket.socket() as sock:  # a port with nobody listening
        await sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with servers(OK) as [server]:
        config = http_config([("gone", f"http://127.0.0.1:{closed_port}"), ("b", server.url)])
        async with hubactors.open_hub(config) as hub:
            response = await hub.complete(ask())
    assert response.deployment == "b" and response.attempts == 2


# --- timeouts -------------------------------------------------------------------------------


async def test_a_hang_before_the_headers_is_a_first_token_timeout_and_the_stream_fails_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with servers(Planned(hang=math.inf), STREAM_OK) as [hung, good]:
        config = http_config([("a", hung.url), ("b", good.url)], timeouts={"first_token": 2.0})
        async with hubactors.open_hub(config) as hub:
            started = trio.current_time()
            events = await read_all(hub, ask())
            elapsed = trio.current_time() - started
            with trio.fail_after(1):
                await hung.wait_for("disconnects", 1)
    assert [e.deployment for e in events if isinstance(e, StreamStart)] == ["b"]
    assert text_of(events) == FULL_TEXT
    assert 2.0 <= elapsed < 2.1


async def test_a_completion_that_hangs_hits_the_attempt_timeout_and_fails_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with servers(Planned(hang=math.inf), OK) as [hung, good]:
        config = http_config([("a", hung.url), ("b", good.url)], timeouts={"attempt": 3.0})
        async with hubactors.open_hub(config) as hub:
            started = trio.current_time()
            response = await hub.complete(ask())
            elapsed = trio.current_time() - started
    assert response.deployment == "b"
    assert 3.0 <= elapsed < 3.1
    assert hung.disconnects == 1


async def test_a_stream_stalled_before_its_first_content_fails_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stalled = Planned(fixture=SSE, stall_after=FIRST_EVENT_END)
    async with servers(stalled, STREAM_OK) as [stuck, good]:
        config = http_config([("a", stuck.url), ("b", good.url)], timeouts={"idle": 1.5})
        async with hubactors.open_hub(config) as hub:
            events = await read_all(hub, ask())
            assert statuses(hub)["a"].errors == 1
    assert [e.deployment for e in events if isinstance(e, StreamStart)] == ["b"]
    assert text_of(events) == FULL_TEXT


async def test_a_stream_stalled_after_content_raises_interrupted_with_what_was_delivered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stalled = Planned(fixture=SSE, stall_after=len(SSE_BYTES) // 2)
    async with servers(stalled, STREAM_OK) as [stuck, other]:
        config = http_config([("a", stuck.url), ("b", other.url)], timeouts={"idle": 1.5})
        async with hubactors.open_hub(config) as hub:
            delivered: list[str] = []
            started = trio.current_time()
            with pytest.raises(StreamInterruptedError) as info:
                async with hub.stream(ask()) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            delivered.append(event.text)
            elapsed = trio.current_time() - started
    assert delivered and info.value.partial_text == "".join(delivered)
    assert FULL_TEXT.startswith(info.value.partial_text)
    assert len(info.value.partial_text) < len(FULL_TEXT)
    assert isinstance(info.value.__cause__, StreamIdleTimeoutError)
    assert 1.5 <= elapsed < 1.6
    assert len(other.requests) == 0  # content had reached the caller: no silent restart


# --- broken streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    [
        Planned(body=b"data: {not json\n\n", content_type="text/event-stream"),
        Planned(fixture=SSE, cut_after=FIRST_EVENT_END + 10),
        Planned(body=SSE_BYTES[:FIRST_EVENT_END], content_type="text/event-stream"),
    ],
    ids=["malformed", "cut", "ended-early"],
)
async def test_a_stream_broken_before_content_fails_over(
    autojump_clock: trio.testing.MockClock, broken: Planned
) -> None:
    async with servers(broken, STREAM_OK) as [bad, good]:
        config = http_config([("a", bad.url), ("b", good.url)])
        async with hubactors.open_hub(config) as hub:
            events = await read_all(hub, ask())
    assert [e.deployment for e in events if isinstance(e, StreamStart)] == ["b"]
    assert text_of(events) == FULL_TEXT
    assert isinstance(events[-1], Finish)


@pytest.mark.parametrize(
    "broken",
    [
        Planned(
            body=SSE_BYTES[:CONTENT_EVENTS_END] + b"data: {not json\n\n",
            content_type="text/event-stream",
        ),
        Planned(fixture=SSE, cut_after=len(SSE_BYTES) // 3),
        Planned(body=SSE_BYTES[: len(SSE_BYTES) // 3], content_type="text/event-stream"),
    ],
    ids=["malformed", "cut", "ended-early"],
)
async def test_a_stream_broken_after_content_is_never_a_silent_truncation(
    autojump_clock: trio.testing.MockClock, broken: Planned
) -> None:
    async with servers(broken, STREAM_OK) as [bad, good]:
        config = http_config([("a", bad.url), ("b", good.url)])
        async with hubactors.open_hub(config) as hub:
            delivered: list[str] = []
            with pytest.raises(StreamInterruptedError) as info:
                async with hub.stream(ask()) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            delivered.append(event.text)
    assert delivered
    assert info.value.partial_text == "".join(delivered)
    assert len(good.requests) == 0


# --- cancellation ---------------------------------------------------------------------------


async def test_a_cancelled_caller_closes_the_upstream_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with one_host(Planned(hang=math.inf)) as (server, hub):
        with trio.move_on_after(1.0):
            await hub.complete(ask())
        with trio.fail_after(0.1):
            await server.wait_for("disconnects", 1)
        assert statuses(hub)["a"].in_flight == 0


async def test_leaving_a_stream_early_closes_the_upstream_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    slow = Planned(fixture=SSE, split=200, chunk_delay=0.5)
    async with one_host(slow) as (server, hub):
        async with hub.stream(ask()) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        with trio.fail_after(0.1):
            await server.wait_for("disconnects", 1)
        assert server.completed == 0
        status = statuses(hub)["a"]
    assert status.in_flight == 0 and status.breaker == "closed" and status.errors == 0


# --- rate limits ----------------------------------------------------------------------------


async def test_tpm_limit_holds_for_long_prompts(autojump_clock: trio.testing.MockClock) -> None:
    prompt = "word " * 700
    request = ChatRequest(
        model="chat", messages=[Message(role="user", content=prompt)], max_tokens=2000
    )
    # Reserved before sending: the prompt and the output it may produce, as providers count.
    reserved = estimate_request_tokens(request) + 2000
    slow = Planned(fixture=JSON, hang=5.0)  # answers after 5 s: the reservations stay held
    async with servers(slow) as [server]:
        config = http_config([("a", server.url)], tpm=3 * reserved + 10)
        async with hubactors.open_hub(config) as hub:
            responses: list[ChatResponse] = []

            async def one() -> None:
                responses.append(await hub.complete(request))

            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(one)
                await trio.sleep(1.0)
                assert len(server.requests) == 3  # three long prompts fill the minute's tokens
    assert len(responses) == 6


async def test_rate_limit_headers_tighten_the_limit_live(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exhausted = Planned(
        fixture=JSON,
        headers={"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0"},
    )
    async with one_host(exhausted) as (server, hub):
        await hub.complete(ask())
        with pytest.raises(LocalRateLimitError, match="deadline cannot be met"):
            await hub.complete(ask(timeout=10.0))
    assert len(server.requests) == 1


# --- nothing is lost -------------------------------------------------------------------------


async def test_under_every_fault_each_request_ends_in_one_response_or_one_typed_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    common = [SERVER_ERROR, rate_limited(0.5), Planned(hang=math.inf)]
    completions = [*common, Planned(fixture=JSON, cut_after=100), OK, OK]
    streams = [
        *common,
        Planned(fixture=SSE, cut_after=len(SSE_BYTES) // 2),
        Planned(body=b"data: {not json\n\n", content_type="text/event-stream"),
        Planned(fixture=SSE, stall_after=len(SSE_BYTES) // 4),
        STREAM_OK,
        STREAM_OK,
    ]
    outcomes: dict[int, list[str]] = {}

    async def one(hub: hubactors.Hub, i: int) -> None:
        record = outcomes.setdefault(i, [])
        try:
            if i % 2:
                response = await hub.complete(ask(f"request {i}", timeout=20.0))
                record.append(f"response from {response.deployment}")
            else:
                events = await read_all(hub, {**ask(f"request {i}", timeout=20.0), "model": "s"})
                assert isinstance(events[-1], Finish)
                record.append("stream finished")
        except HubError as exc:
            record.append(type(exc).__name__)

    async with AsyncExitStack() as stack:
        hosts = [
            await stack.enter_async_context(replay_server(plan[shift:] + plan[:shift], cycle=True))
            for plan in (completions, streams)
            for shift in (0, 3)
        ]
        builder = HubConfigBuilder()
        for name, server in zip(["c1", "c2", "s1", "s2"], hosts, strict=True):
            builder.deployment(
                name,
                provider="openai-compatible",
                model="gpt-4.1-nano",
                base_url=server.url + "/v1",
                timeouts={"first_token": 3.0, "idle": 2.0, "attempt": 8.0},
                breaker={"open_for": 0.5},
            )
        builder.route("chat", ["c1", "c2"], strategy="round-robin")
        builder.route("s", ["s1", "s2"], strategy="round-robin")
        async with hubactors.open_hub(builder.build()) as hub:
            with trio.fail_after(25.0):
                async with trio.open_nursery() as nursery:
                    for i in range(60):
                        nursery.start_soon(one, hub, i)
                        await trio.sleep(0.05)
            await trio.sleep(0.01)  # cancelled upstream reads finish their cleanup
            assert all(s.in_flight == 0 for s in hub.status())
    assert sorted(outcomes) == list(range(60))
    assert all(len(record) == 1 for record in outcomes.values())
    results = Counter(r for (r,) in outcomes.values())
    served = sum(n for r, n in results.items() if r.startswith(("response", "stream")))
    # Half of what the servers send is a fault, and a stream broken after its content
    # reached the caller is not retried; failover and retries still serve many requests.
    # Any error other than a typed HubError would have escaped ``one`` and failed the test.
    assert served >= 15, results


async def test_provider_options_from_the_config_reach_the_request_body(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_GEMINI_KEY", "test-gemini-key-not-real-0043")
    safety = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}]
    plan = Planned(fixture="gemini/gemini-text-nonstream.json")
    async with replay_server(plan) as server:
        config = (
            HubConfigBuilder()
            .deployment(
                "g",
                provider="gemini",
                model="gemini-2.5-flash",
                base_url=server.url,
                api_key_env="HUB_GEMINI_KEY",
                extra_body={"safetySettings": safety},
            )
            .build()
        )
        async with hubactors.open_hub(config) as hub:
            response = await hub.complete(
                {"model": "g", "messages": [{"role": "user", "content": "hi"}]}
            )
        sent = server.requests[0]
    assert response.text
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.json["safetySettings"] == safety
    assert sent.json["contents"][0]["parts"][0]["text"] == "hi"
    assert "key=" not in sent.query
