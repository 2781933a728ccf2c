"""HttpProvider and ClientPool over a real HTTP server (the replay server), real httpx."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import httpcore
import pytest
import trio
import trio.testing
import trustme

from hubactors.config import DeploymentConfig, TimeoutConfig
from hubactors.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    ConfigError,
    ConnectTimeoutError,
    FirstTokenTimeoutError,
    HubClosedError,
    ProviderConnectionError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamIdleTimeoutError,
    StreamInterruptedError,
)
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import ChatRequest, Finish, Message, StreamEvent, StreamStart, TextDelta
from hubactors.providers import _registry
from hubactors.providers._base import Pricing
from hubactors.providers._pool import ClientPool
from hubactors.providers._registry import codec_for, create_http_provider
from hubactors.providers._transport import HttpProvider
from hubactors.providers.codecs._common import Endpoint, Secret
from hubactors.providers.codecs.openai import OPENAI
from tests.providers._expected import assert_matches, expected_for
from tests.providers._replay import FIXTURES, Planned, ReplayServer, replay_server

KEY = "sk-test-" + "s" * 40
TEXT_SSE = "openai/openai-gpt41nano-text.sse"
TEXT_JSON = "openai/openai-gpt41nano-text-nonstream.json"
TIMEOUTS = TimeoutConfig(connect=3.0, first_token=5.0, idle=2.0, attempt=60.0)
PRICING = Pricing(input_per_mtok=1.0, output_per_mtok=4.0, cached_input_per_mtok=0.5)
REQUEST = ChatRequest(model="route", messages=[Message(role="user", content="hi")])


TRANSPORT = "auto"


@pytest.fixture(autouse=True, params=["h11", "httpx"])
def each_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module runs on both HTTP clients."""
    monkeypatch.setattr(sys.modules[__name__], "TRANSPORT", request.param)


def provider(
    url: str,
    pool: ClientPool,
    *,
    timeouts: TimeoutConfig = TIMEOUTS,
    on_headers: Any = None,
    transport: Any = None,
) -> HttpProvider:
    endpoint = Endpoint(
        provider="openai",
        model="gpt-4.1-nano",
        base_url=f"{url}/v1",
        api_key=Secret(KEY),
        deployment="primary",
    )
    return HttpProvider(
        OPENAI,
        endpoint,
        pool,
        timeouts=timeouts,
        pricing=PRICING,
        on_headers=on_headers,
        transport=transport or TRANSPORT,
    )


async def collect(p: HttpProvider, request: ChatRequest = REQUEST) -> list[StreamEvent]:
    async with p.open_stream(request) as events:
        return [event async for event in events]


def assert_no_key(*things: object) -> None:
    for thing in things:
        assert KEY not in str(thing)
        assert KEY not in repr(thing)
        if isinstance(thing, ProviderError):
            assert KEY not in json.dumps(thing.to_dict())


# --- complete and stream -------------------------------------------------------------------


async def test_complete_sends_the_request_and_parses_the_response(client_pool: ClientPool) -> None:
    async with replay_server(Planned(fixture=TEXT_JSON)) as server:
        response = await provider(server.url, client_pool).complete(REQUEST)
    assert_matches(response, expected_for(FIXTURES / TEXT_JSON))
    # The deployment stamps identity and cost; the provider prices by its codec's counting.
    assert provider(server.url, client_pool).cost_of(response.usage) == pytest.approx(
        (16 * 1.0 + 363 * 4.0) / 1e6
    )
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["model"] == "gpt-4.1-nano"
    assert "stream" not in sent.json


async def test_stream_yields_events_from_start_to_finish(client_pool: ClientPool) -> None:
    plan = Planned(fixture=TEXT_SSE, split=64, seed=3)
    async with replay_server(plan) as server:
        events = await collect(provider(server.url, client_pool), REQUEST)
    assert isinstance(events[0], StreamStart) and isinstance(events[-1], Finish)
    accumulator = StreamAccumulator()
    for event in events:
        accumulator.add(event)
    assert_matches(accumulator.response(), expected_for(FIXTURES / TEXT_SSE))
    assert server.requests[0].json["stream"] is True
    assert server.requests[0].headers["accept"] == "text/event-stream"


async def test_requests_reuse_one_keep_alive_connection_per_host(client_pool: ClientPool) -> None:
    async with replay_server(Planned(fixture=TEXT_JSON)) as server:
        first = provider(server.url, client_pool)
        second = provider(server.url, client_pool)  # another deployment on the same host
        for p in (first, second, first):
            await p.complete(REQUEST)
    assert server.connections == 1
    assert len(client_pool) == 1


async def test_response_headers_reach_the_callback(client_pool: ClientPool) -> None:
    seen: list[Mapping[str, str]] = []
    headers = {"x-ratelimit-remaining-requests": "41"}
    plan = [Planned(fixture=TEXT_JSON, headers=headers), Planned(fixture=TEXT_SSE, headers=headers)]
    async with replay_server(plan) as server:
        p = provider(server.url, client_pool, on_headers=seen.append)
        await p.complete(REQUEST)
        await collect(p)
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["41", "41"]


async def test_error_status_raises_typed_error_for_complete_and_stream(
    client_pool: ClientPool,
) -> None:
    body = b'{"error": {"message": "Rate limit reached", "type": "requests"}}'
    plan = Planned(status=429, body=body, headers={"retry-after": "3"})
    async with replay_server(plan) as server:
        p = provider(server.url, client_pool)
        with pytest.raises(RateLimitError) as on_complete:
            await p.complete(REQUEST)
        with pytest.raises(RateLimitError) as on_stream:
            await collect(p)
    for error in (on_complete.value, on_stream.value):
        assert (error.status, error.retry_after, error.message) == (429, 3.0, "Rate limit reached")


async def test_error_inside_the_stream_raises_from_iteration(client_pool: ClientPool) -> None:
    body = (
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
        b'data: {"error":{"message":"The server had an error","type":"server_error"}}\n\n'
    )
    async with replay_server(Planned(body=body, content_type="text/event-stream")) as server:
        seen: list[StreamEvent] = []
        with pytest.raises(ServerError, match="The server had an error"):
            async with provider(server.url, client_pool).open_stream(REQUEST) as events:
                async for event in events:
                    seen.append(event)
    assert TextDelta("Hel") in seen


async def test_health_check_lists_models_and_maps_errors(client_pool: ClientPool) -> None:
    async with replay_server(Planned(body=b'{"data": []}')) as server:
        await provider(server.url, client_pool).health_check()
        assert (server.requests[0].method, server.requests[0].path) == ("GET", "/v1/models")
        server.set_plan([Planned(status=401, body=b'{"error": {"message": "bad key"}}')])
        with pytest.raises(AuthenticationError):
            await provider(server.url, client_pool).health_check()


# --- secrets -------------------------------------------------------------------------------


async def test_api_key_never_appears_in_errors_or_reprs(client_pool: ClientPool) -> None:
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
    async with replay_server(Planned(status=401, body=echo)) as server:
        p = provider(server.url, client_pool)
        with pytest.raises(AuthenticationError) as info:
            await p.complete(REQUEST)
    assert_no_key(info.value, p, p.endpoint, client_pool)
    assert "[REDACTED]" in info.value.message


async def test_connection_refused_is_a_connection_error(client_pool: ClientPool) -> None:
    with socket.socket() as probe:  # a port that nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    p = provider(f"http://127.0.0.1:{port}", client_pool)
    with pytest.raises(ProviderConnectionError) as info:
        await p.complete(REQUEST)
    assert info.value.retryable is True and info.value.deployment == "primary"
    with pytest.raises(ProviderConnectionError):
        await collect(p)
    assert_no_key(info.value)


# --- closing the upstream ------------------------------------------------------------------

SLOW = Planned(fixture=TEXT_SSE, split=200, chunk_delay=0.5)


async def test_cancelling_the_caller_closes_the_upstream(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(SLOW) as server:
        got: list[StreamEvent] = []
        with trio.move_on_after(3):
            async with provider(server.url, client_pool).open_stream(REQUEST) as events:
                async for event in events:
                    got.append(event)
        assert got and not isinstance(got[-1], Finish)
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)
    assert server.completed == 0


async def test_stopping_early_closes_the_upstream(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(SLOW) as server:
        async with provider(server.url, client_pool).open_stream(REQUEST) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)


async def test_an_error_in_the_callers_block_closes_the_upstream(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(SLOW) as server:
        with pytest.raises(LookupError):
            async with provider(server.url, client_pool).open_stream(REQUEST) as events:
                async for _ in events:
                    raise LookupError("consumer failed")
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)


# --- timeouts on the Trio clock ------------------------------------------------------------


async def test_hang_before_headers_is_a_first_token_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(Planned(fixture=TEXT_SSE, hang=math.inf)) as server:
        start = trio.current_time()
        with pytest.raises(FirstTokenTimeoutError):
            await collect(provider(server.url, client_pool))
        assert trio.current_time() - start == pytest.approx(TIMEOUTS.first_token)
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)


async def test_headers_without_an_event_is_a_first_token_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    keepalive = b": processing\n\n" * 50
    plan = Planned(body=keepalive, content_type="text/event-stream", split=15, chunk_delay=1.0)
    async with replay_server(plan) as server:
        start = trio.current_time()
        with pytest.raises(FirstTokenTimeoutError):
            await collect(provider(server.url, client_pool))
        assert trio.current_time() - start == pytest.approx(TIMEOUTS.first_token)


async def test_stall_mid_stream_is_an_idle_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(Planned(fixture=TEXT_SSE, stall_after=5000)) as server:
        got: list[StreamEvent] = []
        with pytest.raises(StreamIdleTimeoutError):
            async with provider(server.url, client_pool).open_stream(REQUEST) as events:
                async for event in events:
                    got.append(event)
                    stalled_since = trio.current_time()
        assert trio.current_time() - stalled_since == pytest.approx(TIMEOUTS.idle)
        assert any(isinstance(e, TextDelta) for e in got)
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)


async def test_slow_but_steady_stream_hits_the_attempt_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    timeouts = TimeoutConfig(connect=3.0, first_token=15.0, idle=2.0, attempt=20.0)
    async with replay_server(Planned(fixture=TEXT_SSE, split=400, chunk_delay=1.5)) as server:
        start = trio.current_time()
        with pytest.raises(AttemptTimeoutError) as info:
            await collect(provider(server.url, client_pool, timeouts=timeouts))
    assert trio.current_time() - start == pytest.approx(20.0)
    assert info.value.retryable is True


async def test_complete_is_bounded_by_the_attempt_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock
) -> None:
    async with replay_server(Planned(fixture=TEXT_JSON, hang=math.inf)) as server:
        start = trio.current_time()
        with pytest.raises(AttemptTimeoutError):
            await provider(server.url, client_pool).complete(REQUEST)
        assert trio.current_time() - start == pytest.approx(TIMEOUTS.attempt)
        with trio.fail_after(1):
            await server.wait_for("disconnects", 1)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen backlog is full: new connection attempts get no answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


async def test_unanswered_connect_is_a_connect_timeout(
    client_pool: ClientPool, autojump_clock: trio.testing.MockClock, full_backlog: int
) -> None:
    start = trio.current_time()
    with pytest.raises(ConnectTimeoutError) as info:
        await provider(f"http://127.0.0.1:{full_backlog}", client_pool).complete(REQUEST)
    assert trio.current_time() - start == pytest.approx(TIMEOUTS.connect)
    assert info.value.retryable is True


# --- broken connections --------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_cut_connection_is_interrupted_after_what_it_delivered(
    client_pool: ClientPool, framing: Any
) -> None:
    # What reached the caller (``partial_text``) is the hub's to say: see
    # tests/hub/test_streams_over_http.py.
    plan = Planned(fixture=TEXT_SSE, framing=framing, cut_after=20_000, split=500)
    async with replay_server(plan) as server:
        delivered: list[str] = []
        with pytest.raises(StreamInterruptedError) as info:
            async with provider(server.url, client_pool).open_stream(REQUEST) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        delivered.append(event.text)
    full = expected_for(FIXTURES / TEXT_SSE)["text"]
    assert delivered and full.startswith("".join(delivered))
    assert info.value.deployment == "primary"
    assert info.value.retryable


async def test_connection_closed_before_headers_is_a_connection_error(
    client_pool: ClientPool,
) -> None:
    # A server that accepts and closes at once: nothing was sent back.
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def accept_and_close() -> None:
        conn, _ = await listener.accept()
        conn.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_and_close)
        with pytest.raises(ProviderConnectionError):
            await provider(f"http://127.0.0.1:{port}", client_pool).complete(REQUEST)
    listener.close()


# --- the client pool -----------------------------------------------------------------------


async def test_https_is_verified_against_the_trust_store_and_keeps_its_connection() -> None:
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    pool = ClientPool(ssl_context=client_tls)
    try:
        async with replay_server(Planned(fixture=TEXT_JSON), tls=server_tls) as server:
            assert server.url.startswith("https://")
            p = provider(server.url, pool)
            for _ in range(3):
                assert (await p.complete(REQUEST)).text
            assert server.connections == 1
        # A server the trust store does not know is refused, as a connection error.
        untrusted = ClientPool()
        try:
            async with replay_server(Planned(fixture=TEXT_JSON), tls=server_tls) as server:
                with pytest.raises(ProviderConnectionError):
                    await provider(server.url, untrusted).complete(REQUEST)
        finally:
            await untrusted.aclose()
    finally:
        await pool.aclose()


@pytest.mark.parametrize("transport", ["h11", "httpx"])
async def test_pool_survives_cancelled_queued_requests(
    autojump_clock: trio.testing.MockClock, transport: str
) -> None:
    """encode/httpcore#1093: cancelling requests queued for a full pool must not wedge it."""
    pool = ClientPool(max_connections=2)
    try:
        async with replay_server(Planned(fixture=TEXT_JSON, hang=math.inf)) as server:
            timeouts = TimeoutConfig(attempt=None)
            p = provider(server.url, pool, timeouts=timeouts, transport=transport)
            async with trio.open_nursery() as nursery:
                for _ in range(50):
                    nursery.start_soon(p.complete, REQUEST)
                await server.wait_for("requests", 2)
                await trio.testing.wait_all_tasks_blocked()
                nursery.cancel_scope.cancel()
            assert len(server.requests) == 2  # the other 48 were queued in the pool
            await assert_pool_serves(server, p)
    finally:
        await pool.aclose()


async def test_pool_reclaims_a_connection_orphaned_by_a_cancelled_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The state httpcore#1093 leaves behind: a connecting connection no request owns."""
    pool = ClientPool(max_connections=1)
    try:
        async with replay_server(Planned(fixture=TEXT_JSON)) as server:
            p = provider(server.url, pool, timeouts=TimeoutConfig(attempt=None), transport="httpx")
            client = pool.get(server.url, transport="httpx")
            core = client.httpx._transport._pool  # type: ignore[attr-defined]
            origin = httpcore.Origin(b"http", b"127.0.0.1", server.port)
            core._connections.append(core.create_connection(origin))
            await assert_pool_serves(server, p)
    finally:
        await pool.aclose()


async def assert_pool_serves(server: ReplayServer, p: HttpProvider) -> None:
    server.set_plan([Planned(fixture=TEXT_JSON)])
    with trio.fail_after(5):
        response = await p.complete(REQUEST)
    assert response.text


async def test_pool_shares_clients_per_origin() -> None:
    pool = ClientPool()
    try:
        a = pool.get("https://api.example.test/v1")
        assert pool.get("https://api.example.test:443/other") is a
        assert pool.get("http://api.example.test/v1") is not a
        assert pool.get("https://api.example.test/v1", http2=False) is a
        assert len(pool) == 2
    finally:
        await pool.aclose()
    with pytest.raises(HubClosedError):
        pool.get("https://api.example.test/v1")


async def test_pool_rejects_bad_urls_and_http2_without_h2(client_pool: ClientPool) -> None:
    with pytest.raises(ConfigError):
        client_pool.get("ftp://example.test")
    with pytest.raises(ConfigError):
        client_pool.get("not a url")
    try:
        import h2  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="h2"):
            client_pool.get("https://example.test", http2=True)
    else:
        assert client_pool.get("https://example.test", http2=True) is not None


# --- the registry --------------------------------------------------------------------------


def test_codec_for_each_http_provider() -> None:
    from hubactors.providers.codecs import anthropic, gemini, openai

    assert codec_for("openai") is openai.OPENAI
    assert codec_for("azure") is openai.AZURE
    assert codec_for("openai-compatible") is openai.COMPATIBLE
    assert codec_for("anthropic") is anthropic.CODEC
    assert codec_for("gemini") is gemini.CODEC


@pytest.mark.parametrize("name", ["simulated", "cohere"])
def test_codec_for_a_provider_without_codec_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        codec_for(name)


def test_a_missing_codec_module_fails_only_its_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_registry._CODECS, "gemini", ("hubactors.providers._nowhere", "CODEC"))
    with pytest.raises(ConfigError, match="not available"):
        codec_for("gemini")
    assert codec_for("openai") is OPENAI


def deployment(**fields: Any) -> DeploymentConfig:
    values: dict[str, Any] = {"name": "dep", "provider": "openai", "model": "gpt-4.1-nano"}
    return DeploymentConfig(**(values | fields))


async def test_create_http_provider_reads_the_key_from_the_named_variable(
    monkeypatch: pytest.MonkeyPatch, client_pool: ClientPool
) -> None:
    monkeypatch.setenv("MY_TEST_KEY", KEY)
    timeouts = TimeoutConfig(attempt=9.0)
    p = create_http_provider(
        deployment(api_key_env="MY_TEST_KEY", timeouts=timeouts), client_pool, pricing=PRICING
    )
    assert p.endpoint.api_key == Secret(KEY)
    assert p.endpoint.base_url == "https://api.openai.com/v1"
    assert (p.kind, p.endpoint.deployment, p.pricing()) == ("openai", "dep", PRICING)
    assert_no_key(p, p.endpoint)


async def test_missing_key_variable_is_named_but_no_value_is_shown(
    monkeypatch: pytest.MonkeyPatch, client_pool: ClientPool
) -> None:
    monkeypatch.delenv("MY_MISSING_KEY", raising=False)
    monkeypatch.setenv("OTHER_KEY", KEY)
    with pytest.raises(ConfigError, match="MY_MISSING_KEY") as info:
        create_http_provider(deployment(api_key_env="MY_MISSING_KEY"), client_pool)
    assert_no_key(info.value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_http_provider(deployment(), client_pool)


async def test_compatible_host_needs_a_base_url_but_no_key(client_pool: ClientPool) -> None:
    local = deployment(provider="openai-compatible", base_url="http://localhost:11434/v1")
    assert create_http_provider(local, client_pool).endpoint.api_key is None
    with pytest.raises(ConfigError, match="base_url"):
        create_http_provider(deployment(provider="openai-compatible"), client_pool)
