"""What reaches the upstream: a client that cancels or leaves closes the provider's HTTP
request, and a stream that breaks after content ends with an in-band error, on every
surface. The upstream is a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio

import hubactors
from hubactors.server import Server
from tests.providers._replay import Planned, ReplayServer, replay_server
from tests.server._ws import open_ws, receive, request, until_final
from tests.server.conftest import TOKEN, in_thread, serving

TEXT_SSE = "openai/openai-gpt41nano-text.sse"
KEY_ENV = "HUBACTORS_TEST_UPSTREAM_KEY"


@asynccontextmanager
async def upstream_hub(
    plan: Planned, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Server, ReplayServer]]:
    monkeypatch.setenv(KEY_ENV, "upstream-test-key")
    async with replay_server(plan) as upstream:
        config = (
            hubactors.HubConfigBuilder()
            .deployment(
                "upstream",
                provider="openai",
                model="gpt-4.1-nano",
                base_url=f"{upstream.url}/v1",
                api_key_env=KEY_ENV,
            )
            .route("chat", ["upstream"], strategy="priority", max_attempts=1)
            .set(shutdown_grace=0.2)
            .build()
        )
        async with serving(config) as server:
            yield server, upstream


async def test_cancel_stops_the_request_and_closes_its_upstream_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, stall_after=5000), monkeypatch) as (
        server,
        upstream,
    ):

        def client() -> list[dict[str, Any]]:
            with open_ws(server.ws_url) as ws:
                ws.send(request("s", stream=True))
                first = receive(ws)
                ws.send(json.dumps({"type": "cancel", "id": "s"}))
                return [first, *until_final(ws, "s")]

        frames = await in_thread(client)
        assert frames[0]["type"] == "event"
        assert frames[-1]["error"]["type"] == "Cancelled"
        with trio.fail_after(2):
            await upstream.wait_for("disconnects", 1)


async def test_a_client_that_disconnects_mid_stream_closes_the_upstream_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, stall_after=5000), monkeypatch) as (
        server,
        upstream,
    ):

        def client() -> None:
            with open_ws(server.ws_url) as ws:
                ws.send(request("s", stream=True))
                receive(ws)
            # Leaving the block closes the connection with the stream still in flight.

        await in_thread(client)
        with trio.fail_after(2):
            await upstream.wait_for("disconnects", 1)
        assert server.drain.in_flight == 0


async def test_a_stream_broken_after_content_ends_with_an_error_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, cut_after=5000), monkeypatch) as (
        server,
        _,
    ):

        def client() -> list[dict[str, Any]]:
            with open_ws(server.ws_url) as ws:
                ws.send(request("s", stream=True))
                return until_final(ws, "s")

        frames = await in_thread(client)
        assert any(f["type"] == "event" and f["event"]["type"] == "text" for f in frames)
        assert frames[-1]["type"] == "error"
        assert frames[-1]["error"]["type"] == "StreamInterruptedError"
        assert frames[-1]["error"]["retryable"] is False


async def test_openai_sdk_stream_broken_after_content_raises_instead_of_ending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, cut_after=5000), monkeypatch) as (
        server,
        _,
    ):

        def client() -> tuple[str, object]:
            sdk = openai.OpenAI(base_url=f"{server.http_url}/v1", api_key=TOKEN, max_retries=0)
            text = ""
            with pytest.raises(openai.APIError) as info:
                stream = sdk.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
            return text, info.value.body

        text, error = await in_thread(client)
        assert isinstance(error, dict)
        assert error["code"] == "StreamInterruptedError"
        assert text  # content arrived before the in-band error


async def test_anthropic_sdk_stream_broken_after_content_raises_instead_of_ending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, cut_after=5000), monkeypatch) as (
        server,
        _,
    ):

        def client() -> str:
            sdk = anthropic.Anthropic(base_url=server.http_url, api_key=TOKEN, max_retries=0)
            text = ""
            with (
                pytest.raises(anthropic.APIStatusError),
                sdk.messages.stream(
                    model="chat", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
                ) as stream,
            ):
                for piece in stream.text_stream:
                    text += piece
            return text

        assert await in_thread(client)


async def test_an_http_client_that_disconnects_closes_the_upstream_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with upstream_hub(Planned(fixture=TEXT_SSE, stall_after=5000), monkeypatch) as (
        server,
        upstream,
    ):
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx.AsyncClient(base_url=server.http_url, trust_env=False) as client,
            client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response,
        ):
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                break  # the first bytes arrived: leave with the stream in flight
        with trio.fail_after(2):
            await upstream.wait_for("disconnects", 1)
