"""The Chat Completions codec: recorded responses, request building and error mapping."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from hubactors.errors import (
    AuthenticationError,
    ConfigError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    error_from_status,
)
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import (
    ChatRequest,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    NamedToolChoice,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    UsageEvent,
)
from hubactors.providers._sse import SSEEvent, SSEParser
from hubactors.providers.codecs._common import Endpoint, Secret
from hubactors.providers.codecs.openai import AZURE, CODEC, COMPATIBLE, OPENAI
from tests.providers._expected import (
    assert_matches,
    decode_until_error,
    expected_for,
    fixture_files,
    text_of,
)

KEY = "sk-test-" + "k" * 40
ENDPOINT = Endpoint(
    provider="openai",
    model="gpt-4.1-nano",
    base_url="https://api.example.test/v1/",
    api_key=Secret(KEY),
    deployment="primary",
)
STREAMS = [p for p in fixture_files("openai") if p.suffix == ".sse"]
BODIES = [p for p in fixture_files("openai") if p.suffix == ".json"]


def decode_stream(data: bytes, pieces: list[bytes] | None = None) -> list[StreamEvent]:
    parser, decoder = SSEParser(), OPENAI.stream_decoder(ENDPOINT)
    events: list[StreamEvent] = []
    for piece in pieces or [data]:
        for sse in parser.feed(piece):
            events.extend(decoder.feed(sse))
    for sse in parser.close():
        events.extend(decoder.feed(sse))
    events.extend(decoder.close())
    return events


def split(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 7)
        out.append(data[i : i + n])
        i += n
    return out


def accumulate(events: list[StreamEvent]) -> Any:
    acc = StreamAccumulator()
    for event in events:
        acc.add(event)
    return acc.response()


def sse(payload: Any) -> SSEEvent:
    return SSEEvent(data=payload if isinstance(payload, str) else json.dumps(payload))


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> SSEEvent:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return sse({"id": "c1", "model": "m", "choices": [choice], **top})


def run(*events: SSEEvent, done: bool = True) -> list[StreamEvent]:
    decoder = OPENAI.stream_decoder(ENDPOINT)
    out: list[StreamEvent] = []
    for event in events:
        out.extend(decoder.feed(event))
    if done:
        out.extend(decoder.feed(sse("[DONE]")))
    out.extend(decoder.close())
    return out


# --- recorded fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_stream_fixture_matches_expected_under_random_splits(path: Path) -> None:
    data, expected = path.read_bytes(), expected_for(path)
    for seed in [None, *range(8)]:
        events = decode_stream(data, None if seed is None else split(data, seed))
        assert isinstance(events[0], StreamStart)
        assert isinstance(events[-1], Finish)
        assert sum(isinstance(e, Finish) for e in events) == 1
        assert_matches(accumulate(events), expected)


@pytest.mark.parametrize("path", [p for p in BODIES if "error" not in p.name], ids=lambda p: p.name)
def test_nonstream_fixture_matches_expected(path: Path) -> None:
    response = OPENAI.parse_response(path.read_bytes(), ENDPOINT)
    assert_matches(response, expected_for(path))


def test_error_fixture_maps_to_typed_error_with_message_code_and_param_type() -> None:
    path = next(p for p in BODIES if "error" in p.name)
    want = expected_for(path)["error"]
    error = OPENAI.parse_error(want["status"], {}, path.read_bytes(), ENDPOINT)
    assert type(error) is ProviderInvalidRequestError
    assert (error.status, error.message) == (want["status"], want["message"])
    assert (error.error_type, error.code) == (want["type"], want["code"])
    assert error.retryable is False


def test_azure_stream_starts_with_the_first_chunk_that_has_an_id() -> None:
    path = next(p for p in STREAMS if p.name.startswith("azure"))
    start = decode_stream(path.read_bytes())[0]
    assert start == StreamStart(
        id="chatcmpl-CYPS1lijGoK8gd9lYzY3r9Sx50nbt",
        model="gpt-5-nano-2025-08-07",
    )


def test_tool_call_index_starting_at_1_becomes_our_index_0() -> None:
    path = next(p for p in STREAMS if "index-1" in p.name)
    events = decode_stream(path.read_bytes())
    assert {e.index for e in events if isinstance(e, ToolCallDelta | ToolCallComplete)} == {0}
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # Empty fragments (no id, no name, no arguments) are not passed on.
    assert "".join(d.arguments for d in deltas) == '{"path": "a.txt"}'
    assert all(d.id or d.name or d.arguments for d in deltas)


# --- stream decoding -----------------------------------------------------------------------


def test_parallel_interleaved_tool_calls_are_assembled_per_index() -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    events = run(
        chunk({"role": "assistant", "content": None}),
        chunk(call(0, id="call_a", type="function", function={"name": "f", "arguments": ""})),
        chunk(call(1, id="call_b", type="function", function={"name": "g", "arguments": '{"x"'})),
        chunk(call(0, id="call_a", function={"name": "f", "arguments": '{"q": "a'})),
        chunk(call(1, id="", function={"arguments": ": [1, 2]}"})),
        chunk(call(0, function={"name": "", "arguments": ' b"}'})),
        chunk(finish="tool_calls"),
    )
    completes = [e for e in events if isinstance(e, ToolCallComplete)]
    assert completes == [
        ToolCallComplete(
            index=0, tool_call=ToolCall(id="call_a", name="f", arguments={"q": "a b"})
        ),
        ToolCallComplete(
            index=1, tool_call=ToolCall(id="call_b", name="g", arguments={"x": [1, 2]})
        ),
    ]
    response = accumulate(events)
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert [c.name for c in response.tool_calls] == ["f", "g"]


def test_tool_calls_without_index_are_told_apart_by_id() -> None:
    events = run(
        chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": '{"k"'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chunk(finish="tool_calls"),
    )
    calls = accumulate(events).tool_calls
    assert calls == [ToolCall(id="a", name="f"), ToolCall(id="b", name="g", arguments={"k": 1})]


def test_a_new_id_under_a_used_index_is_a_new_call() -> None:
    events = run(
        chunk(
            {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}
        ),
        chunk(
            {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        ),
        chunk(finish="tool_calls"),
    )
    assert [c.id for c in accumulate(events).tool_calls] == ["a", "b"]


def test_invalid_tool_arguments_are_kept_raw() -> None:
    events = run(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"cut'}}
                ]
            }
        ),
        chunk(finish="length"),
    )
    response = accumulate(events)
    assert response.tool_calls == [ToolCall(id="a", name="f", arguments={"_raw": '{"cut'})]
    assert response.finish_reason is FinishReason.LENGTH


def test_reasoning_fields_become_reasoning_deltas() -> None:
    events = run(
        chunk({"reasoning_content": "think "}),
        chunk({"reasoning": "more"}),
        chunk({"content": "answer"}, finish="stop"),
    )
    assert [e for e in events if isinstance(e, ReasoningDelta | TextDelta)] == [
        ReasoningDelta("think "),
        ReasoningDelta("more"),
        TextDelta("answer"),
    ]


def test_refusal_is_text_with_content_filter_finish() -> None:
    events = run(
        chunk({"refusal": "I can't help"}), chunk({"refusal": " with that."}, finish="stop")
    )
    response = accumulate(events)
    assert response.text == "I can't help with that."
    assert response.finish_reason is FinishReason.CONTENT_FILTER
    assert response.raw_finish_reason == "stop"


def test_last_usage_wins_and_comes_before_finish() -> None:
    events = run(
        chunk({"content": "x"}, finish="stop", usage={"prompt_tokens": 1, "completion_tokens": 1}),
        sse({"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
    )
    usages = [e for e in events if isinstance(e, UsageEvent)]
    assert [(u.usage.input_tokens, u.usage.output_tokens) for u in usages] == [(9, 4)]
    assert isinstance(events[-2], UsageEvent)


def test_events_after_done_are_ignored() -> None:
    decoder = OPENAI.stream_decoder(ENDPOINT)
    decoder.feed(chunk({"content": "a"}, finish="stop"))
    assert isinstance(decoder.feed(sse("[DONE]"))[-1], Finish)
    assert decoder.feed(chunk({"content": "late"})) == []
    assert decoder.close() == []


def test_finish_reason_without_done_is_accepted_at_close() -> None:
    events = run(chunk({"content": "hi"}), chunk(finish="stop"), done=False)
    assert events[-1] == Finish(finish_reason=FinishReason.STOP, raw_finish_reason="stop")


def test_stream_cut_before_finish_raises_interrupted_after_its_text() -> None:
    path = next(p for p in STREAMS if p.name == "openai-gpt41nano-text.sse")
    data = path.read_bytes()
    cut = data[: len(data) // 2]
    events, error = decode_until_error(OPENAI, ENDPOINT, cut)
    full = expected_for(path)["text"]
    assert text_of(events) and full.startswith(text_of(events))
    assert isinstance(error, StreamInterruptedError)
    assert error.deployment == "primary"
    assert error.retryable is True


def test_empty_stream_raises_interrupted() -> None:
    with pytest.raises(StreamInterruptedError):
        run(done=False)


def test_malformed_event_raises_interrupted() -> None:
    with pytest.raises(StreamInterruptedError, match="malformed"):
        run(chunk({"content": "ok"}), sse("{not json"))


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"message": "busy", "type": "server_error"}, ServerError),
        ({"message": "too long", "code": "context_length_exceeded"}, ContextLengthError),
        ({"message": "slow down", "type": "rate_limit_exceeded"}, RateLimitError),
        ({"message": "bad", "type": "invalid_request_error"}, ProviderInvalidRequestError),
        ({"message": "vllm", "code": 400}, ProviderInvalidRequestError),
        ("plain string error", ServerError),
    ],
)
def test_error_inside_stream_raises_typed_error(error: Any, cls: type[ProviderError]) -> None:
    with pytest.raises(cls) as info:
        run(chunk({"content": "partial"}), sse({"error": error}))
    assert type(info.value) is cls
    assert info.value.message == (error if isinstance(error, str) else error["message"])


# --- request building ----------------------------------------------------------------------


def body_of(request: ChatRequest, codec: Any = OPENAI, endpoint: Endpoint = ENDPOINT) -> Any:
    return json.loads(codec.build_request(request, endpoint).body)


def req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(
        model="route", messages=list(messages) or [Message(role="user", content="hi")], **kw
    )


def test_openai_request_has_url_bearer_key_and_the_deployment_model() -> None:
    spec = OPENAI.build_request(
        req(Message(role="system", content="be brief"), Message(role="user", content="hi")),
        ENDPOINT,
    )
    assert (spec.method, spec.url) == ("POST", "https://api.example.test/v1/chat/completions")
    assert spec.headers["Authorization"] == f"Bearer {KEY}"
    assert spec.headers["Content-Type"] == "application/json"
    assert json.loads(spec.body) == {
        "model": "gpt-4.1-nano",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    assert CODEC is OPENAI


def test_default_base_url_is_openai() -> None:
    endpoint = Endpoint(provider="openai", model="m", base_url="")
    assert OPENAI.build_request(req(), endpoint).url == "https://api.openai.com/v1/chat/completions"


def test_streaming_request_asks_for_usage() -> None:
    spec = OPENAI.build_request(req(stream=True), ENDPOINT)
    body = json.loads(spec.body)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert spec.headers["Accept"] == "text/event-stream"


def test_sampling_options_and_max_tokens_field_per_codec() -> None:
    request = req(temperature=0.2, top_p=0.9, max_tokens=50, stop=["END"])
    body = body_of(request)
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.2, 0.9, ["END"])
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    compatible = Endpoint(
        provider="openai-compatible", model="llama3", base_url="http://h:11434/v1"
    )
    assert body_of(request, COMPATIBLE, compatible)["max_tokens"] == 50


def test_tools_and_each_tool_choice() -> None:
    tool = Tool(name="weather", description="Weather", parameters={"type": "object"}, strict=True)
    body = body_of(req(tools=[tool, Tool(name="bare")], tool_choice="required"))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object"},
                "description": "Weather",
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {"name": "bare", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert body["tool_choice"] == "required"
    for choice in ("auto", "none"):
        assert body_of(req(tools=[tool], tool_choice=choice))["tool_choice"] == choice
    named = body_of(req(tools=[tool], tool_choice=NamedToolChoice("weather")))["tool_choice"]
    assert named == {"type": "function", "function": {"name": "weather"}}


def test_tool_calls_and_results_use_tool_calls_field_and_tool_messages() -> None:
    body = body_of(
        req(
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                content=[ToolCallPart(id="c1", name="weather", arguments={"city": "Oslo"})],
            ),
            Message(role="tool", content=[ToolResultPart(tool_call_id="c1", content="sunny")]),
            Message(
                role="user",
                content=[ToolResultPart(tool_call_id="c2", content="{}"), TextPart("and now?")],
            ),
        )
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "{}"},
        {"role": "user", "content": "and now?"},
    ]


def test_images_by_url_and_inline_base64() -> None:
    message = Message(
        role="user",
        content=[
            TextPart("what is this?"),
            ImagePart(url="https://img.test/a.png", detail="low"),
            ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        ],
    )
    assert body_of(req(message))["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://img.test/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = ResponseFormat(name="answer", json_schema=schema)
    assert body_of(req(response_format=fmt))["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    json_object = ResponseFormat(type="json_object")
    assert body_of(req(response_format=json_object))["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (req(Message(role="user", content=[ImagePart(data="abc")])), "messages[0].content[0]"),
        (req(Message(role="assistant", content=[ImagePart(url="u")])), "messages[0].content[0]"),
        (
            req(Message(role="user", content=[ToolCallPart(id="x", name="f")])),
            "messages[0].content[0]",
        ),
        (
            req(Message(role="assistant", content=[ToolCallPart(id=None, name="f")])),
            "messages[0].content[0].id",
        ),
        (req(Message(role="tool", content="no id")), "messages[0].content"),
        (req(response_format=ResponseFormat(json_schema=None)), "response_format"),
        (ChatRequest(model="r", messages=[]), "messages"),
    ],
)
def test_what_the_api_cannot_express_is_an_invalid_request(
    request_: ChatRequest, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        OPENAI.build_request(request_, ENDPOINT)
    assert info.value.field == field


def test_extra_endpoint_headers_are_merged() -> None:
    endpoint = Endpoint(
        provider="openai",
        model="m",
        base_url="https://api.example.test/v1",
        api_key=Secret(KEY),
        headers={"OpenAI-Organization": "org-1", "Accept": "application/x-custom"},
    )
    headers = OPENAI.build_request(req(), endpoint).headers
    assert headers["OpenAI-Organization"] == "org-1"
    assert headers["Accept"] == "application/x-custom"
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_azure_url_api_version_and_api_key_header() -> None:
    endpoint = Endpoint(
        provider="azure",
        model="my-gpt4o",
        base_url="https://res.openai.azure.com/",
        api_key=Secret(KEY),
    )
    spec = AZURE.build_request(req(max_tokens=5), endpoint)
    assert spec.url == (
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions"
        "?api-version=2024-10-21"
    )
    assert spec.headers["api-key"] == KEY and "Authorization" not in spec.headers
    assert json.loads(spec.body)["max_completion_tokens"] == 5
    pinned = msgspec_replace(endpoint, api_version="2025-01-01-preview")
    assert AZURE.build_request(req(), pinned).url.endswith("?api-version=2025-01-01-preview")
    health = AZURE.health_request(endpoint)
    assert health is not None
    assert health.url == "https://res.openai.azure.com/openai/models?api-version=2024-10-21"


def test_azure_without_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        AZURE.build_request(req(), Endpoint(provider="azure", model="d", base_url=""))


def test_compatible_host_without_key_sends_no_authorization() -> None:
    endpoint = Endpoint(
        provider="openai-compatible", model="llama3", base_url="http://localhost:11434/v1"
    )
    spec = COMPATIBLE.build_request(req(), endpoint)
    assert spec.url == "http://localhost:11434/v1/chat/completions"
    assert "Authorization" not in spec.headers
    with pytest.raises(ConfigError):
        COMPATIBLE.build_request(req(), msgspec_replace(endpoint, base_url=""))


def test_health_request_lists_models() -> None:
    spec = OPENAI.health_request(ENDPOINT)
    assert spec is not None
    assert (spec.method, spec.url) == ("GET", "https://api.example.test/v1/models")
    assert spec.headers["Authorization"] == f"Bearer {KEY}"


def msgspec_replace(endpoint: Endpoint, **changes: Any) -> Endpoint:
    import msgspec

    return msgspec.structs.replace(endpoint, **changes)


# --- error mapping -------------------------------------------------------------------------


def error_body(
    message: str = "nope", type_: str | None = "invalid_request_error", code: str | None = None
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, ProviderInvalidRequestError, False),
        (401, AuthenticationError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (408, ServerError, True),
        (409, ServerError, True),
        (413, ProviderInvalidRequestError, False),
        (422, ProviderInvalidRequestError, False),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
        (529, ServerError, True),
    ],
)
def test_status_maps_to_error_class(status: int, cls: type[ProviderError], retryable: bool) -> None:
    error = OPENAI.parse_error(
        status, {"x-request-id": "req_1"}, error_body(f"status {status}"), ENDPOINT
    )
    assert type(error) is cls
    assert error_from_status(status) is cls
    assert (error.status, error.retryable, error.message) == (status, retryable, f"status {status}")
    assert (error.deployment, error.provider, error.request_id) == ("primary", "openai", "req_1")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
        ({}, None),
    ],
)
def test_rate_limit_carries_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    error = OPENAI.parse_error(
        429, headers, error_body(type_="requests", code="rate_limit_exceeded"), ENDPOINT
    )
    assert isinstance(error, RateLimitError)
    assert (
        error.retry_after == pytest.approx(seconds)
        if seconds is not None
        else error.retry_after is None
    )
    assert error.retryable is True


def test_insufficient_quota_is_a_rate_limit_that_waiting_does_not_fix() -> None:
    body = error_body("You exceeded your current quota", "insufficient_quota", "insufficient_quota")
    error = OPENAI.parse_error(429, {}, body, ENDPOINT)
    assert type(error) is RateLimitError
    assert error.retryable is False


def test_context_length_code_is_context_length_error() -> None:
    body = error_body(
        "This model's maximum context length is 8192 tokens", code="context_length_exceeded"
    )
    error = OPENAI.parse_error(400, {}, body, ENDPOINT)
    assert type(error) is ContextLengthError
    assert error.code == "context_length_exceeded"


def test_azure_content_filter_is_content_filter_error() -> None:
    body = error_body("The response was filtered", None, "content_filter")
    error = AZURE.parse_error(400, {"apim-request-id": "az-1"}, body, ENDPOINT)
    assert type(error) is ContentFilterError
    assert (error.retryable, error.request_id) == (False, "az-1")


def test_html_body_from_a_proxy_gives_a_short_safe_message() -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title></head><body>"
        + b"<p>nginx</p>" * 500
        + b"</body></html>"
    )
    error = OPENAI.parse_error(502, {"content-type": "text/html"}, page, ENDPOINT)
    assert type(error) is ServerError
    assert error.message.startswith("Bad Gateway: 502 Bad Gateway nginx")
    assert "<" not in error.message and len(error.message) < 200


def test_empty_body_uses_the_status_phrase() -> None:
    assert OPENAI.parse_error(503, {}, b"", ENDPOINT).message == "Service Unavailable"
    assert OPENAI.parse_error(599, {}, b"", ENDPOINT).message == "error"


def test_api_key_never_appears_in_errors() -> None:
    body = error_body(f"Incorrect API key provided: {KEY}. Bearer {KEY}", code="invalid_api_key")
    error = OPENAI.parse_error(401, {}, body, ENDPOINT)
    assert type(error) is AuthenticationError
    for text in (str(error), repr(error), json.dumps(error.to_dict()), error.message):
        assert KEY not in text
    assert "[REDACTED]" in error.message
