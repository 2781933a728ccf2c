"""The HTTP surface through the official OpenAI and Anthropic SDKs, probes and metrics."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

import hubactors
from hubactors.server import Server
from tests.server.conftest import TOKEN, hub_config, in_thread, serving

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082"
    )
).decode()


def openai_client(server: Server, key: str = TOKEN) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(trust_env=False)
    return openai.OpenAI(
        base_url=f"{server.http_url}/v1", api_key=key, max_retries=0, http_client=http
    )


def anthropic_client(server: Server, key: str = TOKEN) -> anthropic.Anthropic:
    http = anthropic.DefaultHttpxClient(trust_env=False)
    return anthropic.Anthropic(
        base_url=server.http_url, api_key=key, max_retries=0, http_client=http
    )


def get(server: Server, path: str, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.http_url + path, headers=headers, trust_env=False)


MESSAGES: list[Any] = [{"role": "user", "content": "What is up?"}]


# --- OpenAI --------------------------------------------------------------------------------


async def test_openai_sdk_completes_through_the_hub(server: Server) -> None:
    expected = await server.hub.complete({"model": "chat", "messages": MESSAGES})
    completion = await in_thread(
        lambda: openai_client(server).chat.completions.create(model="chat", messages=MESSAGES)
    )
    assert completion.choices[0].message.content == expected.text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == expected.usage.output_tokens


async def test_openai_sdk_streams_with_a_final_usage_chunk(server: Server) -> None:
    expected = await server.hub.complete({"model": "chat", "messages": MESSAGES})

    def client() -> tuple[str, list[Any], Any]:
        stream = openai_client(server).chat.completions.create(
            model="chat",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        return text, finishes, chunks[-1]

    text, finishes, last = await in_thread(client)
    assert text == expected.text
    assert finishes[-1] == "stop"
    assert last.choices == [] and last.usage.completion_tokens == expected.usage.output_tokens


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_sdk_gets_a_tool_call(server: Server, stream: bool) -> None:
    def client() -> tuple[str, str, str]:
        sdk = openai_client(server)
        args: dict[str, Any] = {
            "model": "chat",
            "messages": MESSAGES,
            "tools": [WEATHER],
            "tool_choice": "required",
        }
        if not stream:
            choice = sdk.chat.completions.create(**args).choices[0]
            call = choice.message.tool_calls[0]  # type: ignore[index]
            return call.function.name, call.function.arguments, str(choice.finish_reason)
        name, arguments, finish = "", "", ""
        for chunk in sdk.chat.completions.create(**args, stream=True):
            delta = chunk.choices[0].delta
            for part in delta.tool_calls or []:
                name += part.function.name or ""  # type: ignore[union-attr]
                arguments += part.function.arguments or ""  # type: ignore[union-attr]
            finish = chunk.choices[0].finish_reason or finish
        return name, arguments, finish

    name, arguments, finish = await in_thread(client)
    assert (name, finish) == ("get_weather", "tool_calls")
    assert arguments == '{"city":"sim","unit":"c"}'


async def test_openai_sdk_sends_an_image(server: Server) -> None:
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    completion = await in_thread(
        lambda: openai_client(server).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": content}]
        )
    )
    assert completion.choices[0].message.content


async def test_openai_errors_have_openai_shape_and_status(server: Server) -> None:
    def client() -> list[tuple[int, Any]]:
        out = []
        for sdk, model, messages in [
            (openai_client(server, key="wrong"), "chat", MESSAGES),
            (openai_client(server), "no-such-route", MESSAGES),
            (openai_client(server), "chat", [{"role": "wizard", "content": "x"}]),
        ]:
            with pytest.raises(openai.APIStatusError) as info:
                sdk.chat.completions.create(model=model, messages=messages)
            out.append((info.value.status_code, info.value.body))
        return out

    unauthorized, unknown, invalid = await in_thread(client)
    assert unauthorized[0] == 401 and unauthorized[1]["code"] == "invalid_api_key"
    assert unknown[0] == 404 and unknown[1]["code"] == "model_not_found"
    assert invalid[0] == 400 and invalid[1]["type"] == "invalid_request_error"
    assert invalid[1]["param"] == "messages[0].role"


async def test_openai_sdk_lists_the_routes_as_models(server: Server) -> None:
    models = await in_thread(lambda: openai_client(server).models.list())
    assert {m.id for m in models.data} == {"chat", "sim"}


async def test_an_upstream_rate_limit_is_a_429_with_retry_after() -> None:
    async with serving(hub_config(max_attempts=1, rate_limit_rate=1.0, retry_after=3.0)) as server:

        def client() -> tuple[int, str | None]:
            with pytest.raises(openai.RateLimitError) as info:
                openai_client(server).chat.completions.create(model="chat", messages=MESSAGES)
            return info.value.status_code, info.value.response.headers.get("retry-after")

        assert await in_thread(client) == (429, "3")


# --- Anthropic -----------------------------------------------------------------------------


async def test_anthropic_sdk_gets_a_message_through_the_hub(server: Server) -> None:
    expected = await server.hub.complete(
        {"model": "chat", "messages": [{"role": "system", "content": "Be brief."}, *MESSAGES]}
    )
    message = await in_thread(
        lambda: anthropic_client(server).messages.create(
            model="chat", max_tokens=100, system="Be brief.", messages=MESSAGES
        )
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == expected.text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == expected.usage.output_tokens


async def test_anthropic_sdk_streams_its_event_sequence(server: Server) -> None:
    expected = await server.hub.complete({"model": "chat", "messages": MESSAGES})

    def client() -> tuple[str, list[str], Any]:
        with anthropic_client(server).messages.stream(
            model="chat", max_tokens=100, messages=MESSAGES
        ) as stream:
            kinds = [event.type for event in stream]
            return "".join(stream.get_final_message().content[0].text), kinds, stream

    text, kinds, stream = await in_thread(client)
    assert text == expected.text
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "message_delta" in kinds
    final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == expected.usage.output_tokens


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_sdk_gets_a_tool_use_and_sends_its_result_back(
    server: Server, stream: bool
) -> None:
    tool = {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
    }

    def client() -> tuple[Any, str]:
        sdk = anthropic_client(server)
        args: dict[str, Any] = {
            "model": "chat",
            "max_tokens": 100,
            "messages": MESSAGES,
            "tools": [tool],
            "tool_choice": {"type": "any"},
        }
        if stream:
            with sdk.messages.stream(**args) as events:
                message = events.get_final_message()
        else:
            message = sdk.messages.create(**args)
        use = next(block for block in message.content if block.type == "tool_use")
        follow_up = sdk.messages.create(
            model="chat",
            max_tokens=100,
            messages=[
                *MESSAGES,
                {"role": "assistant", "content": [use.model_dump()]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": use.id, "content": "sunny"},
                        {"type": "text", "text": "So?"},
                    ],
                },
            ],
        )
        return (message.stop_reason, use.name, use.input), follow_up.stop_reason

    (stop, name, arguments), follow_up = await in_thread(client)
    assert (stop, name, arguments) == ("tool_use", "get_weather", {"city": "sim", "unit": "c"})
    assert follow_up == "end_turn"


async def test_anthropic_sdk_sends_an_image(server: Server) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = await in_thread(
        lambda: anthropic_client(server).messages.create(
            model="chat",
            max_tokens=50,
            messages=[{"role": "user", "content": [image, {"type": "text", "text": "What?"}]}],
        )
    )
    assert message.content[0].text  # type: ignore[union-attr]


async def test_anthropic_errors_have_anthropic_shape_and_status(server: Server) -> None:
    def client() -> list[tuple[int, Any]]:
        out = []
        for sdk, model in [
            (anthropic_client(server, "wrong"), "chat"),
            (anthropic_client(server), "nope"),
        ]:
            with pytest.raises(anthropic.APIStatusError) as info:
                sdk.messages.create(model=model, max_tokens=10, messages=MESSAGES)
            out.append((info.value.status_code, info.value.body))
        return out

    unauthorized, unknown = await in_thread(client)
    assert unauthorized == (
        401,
        {
            "type": "error",
            "error": {
                "type": "authentication_error",
                "message": unauthorized[1]["error"]["message"],
            },
        },
    )
    assert unknown[0] == 404 and unknown[1]["error"]["type"] == "not_found_error"


async def test_anthropic_sdk_lists_the_routes_as_models(server: Server) -> None:
    page = await in_thread(lambda: anthropic_client(server).models.list())
    assert {m.id for m in page.data} == {"chat", "sim"}


# --- probes and metrics --------------------------------------------------------------------


async def test_probes_need_no_token_and_say_ready(server: Server) -> None:
    health = await in_thread(lambda: get(server, "/healthz", token=None))
    ready = await in_thread(lambda: get(server, "/readyz", token=None))
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (await in_thread(lambda: get(server, "/metrics", token=None))).status_code == 401


async def test_readyz_is_503_with_the_reasons_when_a_route_has_no_usable_deployment() -> None:
    config = (
        hubactors.HubConfigBuilder()
        .deployment(
            "down",
            provider="simulated",
            model="sim-large",
            simulation={"outages": [{"start": 0, "duration": 3600}]},
            breaker={"min_calls": 1, "failure_rate": 0.5},
        )
        .route("chat", ["down"], max_attempts=1)
        .set(shutdown_grace=0.1)
        .build()
    )
    async with serving(config) as server:
        with pytest.raises(hubactors.HubError):
            await server.hub.complete({"model": "chat", "messages": MESSAGES})
        ready = await in_thread(lambda: get(server, "/readyz", token=None))
    assert ready.status_code == 503
    assert ready.json()["reasons"] == ["route 'chat' has no usable deployment (down: circuit open)"]


async def test_metrics_are_the_hubs_and_the_servers_and_parse_as_prometheus(
    server: Server,
) -> None:
    await in_thread(
        lambda: openai_client(server).chat.completions.create(model="chat", messages=MESSAGES)
    )
    response = await in_thread(lambda: get(server, "/metrics"))
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "hubactors_requests" in families  # the hub's registry
    http = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["hubactors_server_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert http[("/v1/chat/completions", "200")] == 1
    in_flight = {
        s.labels["surface"] for s in families["hubactors_server_requests_in_flight"].samples
    }
    assert in_flight == {"websocket", "openai", "anthropic"}
    assert "hubactors_server_websocket_connections" in families


async def test_a_cross_site_or_non_json_post_is_refused() -> None:
    async with serving(token=None) as server:
        url = server.http_url + "/v1/chat/completions"
        body = '{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'

        def post(headers: dict[str, str]) -> int:
            return httpx.post(url, content=body, headers=headers, trust_env=False).status_code

        assert await in_thread(lambda: post({"content-type": "application/json"})) == 200
        assert await in_thread(lambda: post({"content-type": "text/plain"})) == 415
        evil = {"content-type": "application/json", "origin": "https://evil.example"}
        assert await in_thread(lambda: post(evil)) == 403
        rebound = {"content-type": "application/json", "host": "evil.example"}
        assert await in_thread(lambda: post(rebound)) == 403
