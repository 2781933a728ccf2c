"""The Anthropic Messages codec against recorded wire data and hand-built cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hubactors.errors import (
    AuthenticationError,
    ContextLengthError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    NamedToolChoice,
    ResponseFormat,
    StreamEvent,
    StreamStart,
    TextPart,
    Tool,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.providers._sse import SSEEvent
from hubactors.providers.codecs._common import Endpoint, Secret
from hubactors.providers.codecs.anthropic import CODEC, DEFAULT_MAX_TOKENS
from tests.providers._expected import accumulate, decode_stream, decode_until_error, text_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "anthropic"
KEY = "test-Zq8vR2mX-key-not-real-0042"  # shares no 8 characters with any message text
ENDPOINT = Endpoint(
    provider="anthropic",
    model="claude-sonnet-4-5",
    base_url="https://api.anthropic.com",
    api_key=Secret(KEY),
    deployment="claude-main",
)
STREAMS = sorted(p.stem for p in FIXTURES.glob("*.sse"))
BODIES = sorted(p.stem for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))
SUCCESS_BODIES = [name for name in BODIES if "error" not in name]
SEEDS = [1, 2, 3]


def _decode(data: bytes, seed: int | None = None) -> list[StreamEvent]:
    return decode_stream(CODEC, ENDPOINT, data, seed)


_accumulate = accumulate


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def _assert_matches(response: ChatResponse, expected: dict[str, Any]) -> None:
    assert response.text == expected["text"]
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls]
    assert calls == expected["tool_calls"]
    assert response.raw_finish_reason == expected["finish_reason"]
    usage = expected["usage"]
    assert response.usage.input_tokens == usage["input_tokens"]
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.usage.cached_input_tokens == usage.get("cached_tokens", 0)
    assert response.usage.cache_creation_input_tokens == usage.get("cache_creation_input_tokens", 0)
    assert response.reasoning == expected.get("reasoning")


def _sse(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


def _build(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("model", "route")
    kwargs.setdefault("messages", [Message(role="user", content="hi")])
    spec = CODEC.build_request(ChatRequest(**kwargs), ENDPOINT)
    body: dict[str, Any] = json.loads(spec.body)
    return body


# --- recorded fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [None, *SEEDS])
@pytest.mark.parametrize("name", STREAMS)
def test_recorded_stream_matches_sdk_result_for_any_byte_split(name: str, seed: int | None) -> None:
    data = (FIXTURES / f"{name}.sse").read_bytes()
    events = _decode(data, seed)
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], Finish)
    assert sum(isinstance(e, Finish) for e in events) == 1
    _assert_matches(_accumulate(events), _expected(name))


@pytest.mark.parametrize("name", STREAMS)
def test_tool_call_deltas_concatenate_to_the_completed_arguments(name: str) -> None:
    events = _decode((FIXTURES / f"{name}.sse").read_bytes())
    fragments: dict[int, str] = {}
    for event in events:
        if isinstance(event, ToolCallDelta):
            fragments[event.index] = fragments.get(event.index, "") + event.arguments
        if isinstance(event, ToolCallComplete):
            text = fragments.get(event.index, "")
            assert (json.loads(text) if text else {}) == event.tool_call.arguments


@pytest.mark.parametrize("name", SUCCESS_BODIES)
def test_recorded_body_matches_sdk_result(name: str) -> None:
    response = CODEC.parse_response((FIXTURES / f"{name}.json").read_bytes(), ENDPOINT)
    _assert_matches(response, _expected(name))


def test_recorded_error_body_becomes_invalid_request_error_with_its_details() -> None:
    expected = _expected("anthropic-error-invalid-request")["error"]
    body = (FIXTURES / "anthropic-error-invalid-request.json").read_bytes()
    error = CODEC.parse_error(400, {}, body, ENDPOINT)
    assert type(error) is ProviderInvalidRequestError
    assert error.status == 400
    assert error.message == expected["message"]
    assert error.error_type == expected["type"]
    assert error.request_id == expected["request_id"]
    assert error.retryable is False
    assert error.deployment == "claude-main"


def test_server_tool_use_blocks_are_not_client_tool_calls() -> None:
    events = _decode((FIXTURES / "anthropic-web-fetch-server-tool.sse").read_bytes())
    assert not [e for e in events if isinstance(e, ToolCallDelta | ToolCallComplete)]
    assert _accumulate(events).finish_reason is FinishReason.STOP


def test_message_delta_usage_overrides_message_start_usage() -> None:
    name = "anthropic-compatible-message-delta-input-tokens"
    response = _accumulate(_decode((FIXTURES / f"{name}.sse").read_bytes()))
    assert (response.usage.input_tokens, response.usage.output_tokens) == (61, 2)


def test_parallel_tool_calls_keep_their_order_and_normalize_to_tool_calls() -> None:
    events = _decode((FIXTURES / "anthropic-parallel-tool-calls.sse").read_bytes())
    completes = [e for e in events if isinstance(e, ToolCallComplete)]
    assert [c.index for c in completes] == [0, 1, 2]
    assert [c.tool_call.arguments["query"] for c in completes] == ["alpha", "beta", "gamma"]
    assert _accumulate(events).finish_reason is FinishReason.TOOL_CALLS


def test_max_tokens_stop_reason_normalizes_to_length() -> None:
    events = _decode((FIXTURES / "anthropic-cache-read-max-tokens.sse").read_bytes())
    assert events[-1] == Finish(finish_reason=FinishReason.LENGTH, raw_finish_reason="max_tokens")


# --- stream edge cases ---------------------------------------------------------------------

START = {
    "type": "message_start",
    "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 5}},
}
TEXT_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
HELLO = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}


def test_stream_without_message_stop_raises_stream_interrupted_after_its_text() -> None:
    data = _sse(START) + _sse(TEXT_START) + _sse(HELLO)
    events, error = decode_until_error(CODEC, ENDPOINT, data)
    assert text_of(events) == "Hel"
    assert isinstance(error, StreamInterruptedError)
    assert error.retryable is True


def test_recorded_stream_cut_before_message_stop_raises_stream_interrupted() -> None:
    data = (FIXTURES / "anthropic-text.sse").read_bytes()
    cut = data[: data.index(b"event: message_stop")]
    with pytest.raises(StreamInterruptedError):
        _decode(cut, seed=4)


@pytest.mark.parametrize(
    ("error_type", "cls", "status", "retryable"),
    [
        ("overloaded_error", ServerError, 529, True),
        ("rate_limit_error", RateLimitError, 429, True),
        ("api_error", ServerError, 500, True),
        ("invalid_request_error", ProviderInvalidRequestError, 400, False),
    ],
)
def test_error_event_mid_stream_raises_typed_error(
    error_type: str, cls: type[ProviderError], status: int, retryable: bool
) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "Overloaded"}}
    data = _sse(START) + _sse(TEXT_START) + _sse(HELLO) + _sse(error)
    with pytest.raises(cls) as info:
        _decode(data)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.retryable is retryable
    assert info.value.error_type == error_type
    assert info.value.message == "Overloaded"


def _tool_stream(partial_json: str, stop_reason: str) -> bytes:
    block = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
    delta = {"type": "input_json_delta", "partial_json": partial_json}
    return b"".join(
        [
            _sse(START),
            _sse({"type": "content_block_start", "index": 0, "content_block": block}),
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}),
            _sse({"type": "content_block_stop", "index": 0}),
            _sse({"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {}}),
            _sse({"type": "message_stop"}),
        ]
    )


def test_tool_input_cut_by_max_tokens_is_kept_raw_and_the_stream_finishes_with_length() -> None:
    events = _decode(_tool_stream('{"query": "unfini', "max_tokens"))
    call = ToolCall(id="toolu_1", name="lookup", arguments={"_raw": '{"query": "unfini'})
    assert [e for e in events if isinstance(e, ToolCallComplete)] == [
        ToolCallComplete(index=0, tool_call=call)
    ]
    assert events[-1] == Finish(finish_reason=FinishReason.LENGTH, raw_finish_reason="max_tokens")


def test_invalid_tool_input_on_a_finished_turn_is_kept_raw_like_every_codec() -> None:
    response = _accumulate(_decode(_tool_stream('{"query": ', "tool_use")))
    assert [(c.id, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", {"_raw": '{"query": '})
    ]
    assert response.finish_reason is FinishReason.TOOL_CALLS


def test_usage_event_precedes_finish_and_uses_message_start_when_delta_has_none() -> None:
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": None}
    data = _sse(START) + _sse(TEXT_START) + _sse(HELLO) + _sse(stop)
    data += _sse({"type": "message_stop"})
    response = _accumulate(_decode(data))
    assert response.usage.input_tokens == 5
    assert response.id == "msg_1"
    assert response.text == "Hel"


def test_events_after_message_stop_are_ignored() -> None:
    decoder = CODEC.stream_decoder(ENDPOINT)
    decoder.feed(SSEEvent(data=json.dumps(START), event="message_start"))
    decoder.feed(SSEEvent(data='{"type":"message_stop"}', event="message_stop"))
    assert decoder.feed(SSEEvent(data=json.dumps(HELLO))) == []
    assert decoder.close() == []


def test_malformed_stream_event_raises_server_error() -> None:
    decoder = CODEC.stream_decoder(ENDPOINT)
    with pytest.raises(ServerError):
        decoder.feed(SSEEvent(data="{not json", event="message_start"))


# --- non-streaming edge cases --------------------------------------------------------------


def _message(content: list[dict[str, Any]], stop_reason: str | None) -> bytes:
    body = {
        "id": "msg_9",
        "model": "claude",
        "content": content,
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": None},
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("pause_turn", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("something_new", FinishReason.STOP),
    ],
)
def test_stop_reason_is_normalized_and_the_raw_value_kept(
    raw: str, normalized: FinishReason
) -> None:
    response = CODEC.parse_response(_message([{"type": "text", "text": "x"}], raw), ENDPOINT)
    assert response.finish_reason is normalized
    assert response.raw_finish_reason == raw


def test_thinking_blocks_become_reasoning_and_server_tools_are_left_out() -> None:
    content = [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "text", "text": "Answer"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    ]
    response = CODEC.parse_response(_message(content, "tool_use"), ENDPOINT)
    assert response.reasoning == "Let me think."
    assert response.text == "Answer"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", "f", {"a": 1})
    ]
    assert response.usage.cached_input_tokens == 0


def test_malformed_body_raises_server_error() -> None:
    with pytest.raises(ServerError):
        CODEC.parse_response(b"<html>bad gateway</html>", ENDPOINT)


# --- errors --------------------------------------------------------------------------------


TOO_LONG = "prompt is too long: 210000 tokens > 200000 maximum"


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "r1"}
    ).encode()


@pytest.mark.parametrize(
    ("status", "error_type", "message", "cls"),
    [
        (400, "invalid_request_error", "max_tokens: must be positive", ProviderInvalidRequestError),
        (400, "invalid_request_error", TOO_LONG, ContextLengthError),
        (401, "authentication_error", "invalid x-api-key", AuthenticationError),
        (403, "permission_error", "not allowed", PermissionDeniedError),
        (404, "not_found_error", "model: claude-9", NotFoundError),
        (413, "request_too_large", "Request exceeds the maximum size", ProviderInvalidRequestError),
        (429, "rate_limit_error", "Too many requests", RateLimitError),
        (500, "api_error", "Internal server error", ServerError),
        (529, "overloaded_error", "Overloaded", ServerError),
        (418, "brand_new_error", "teapot", ProviderInvalidRequestError),
    ],
)
def test_error_status_and_type_map_to_the_error_class(
    status: int, error_type: str, message: str, cls: type[ProviderError]
) -> None:
    error = CODEC.parse_error(status, {}, _error_body(error_type, message), ENDPOINT)
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (status, error_type, message)
    assert error.request_id == "r1"
    assert error.provider == "anthropic"


def test_overloaded_error_is_retryable_server_error() -> None:
    error = CODEC.parse_error(529, {}, _error_body("overloaded_error", "Overloaded"), ENDPOINT)
    assert isinstance(error, ServerError)
    assert error.retryable is True


def test_rate_limit_error_carries_retry_after_from_headers() -> None:
    body = _error_body("rate_limit_error", "slow down")
    error = CODEC.parse_error(429, {"Retry-After": "17"}, body, ENDPOINT)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 17.0


def test_request_id_falls_back_to_the_response_header() -> None:
    body = b'{"type":"error","error":{"type":"api_error","message":"boom"}}'
    error = CODEC.parse_error(500, {"request-id": "req_h"}, body, ENDPOINT)
    assert error.request_id == "req_h"


def test_non_json_error_body_maps_by_status_and_keeps_an_excerpt() -> None:
    error = CODEC.parse_error(502, {}, b"<html>Bad Gateway</html>", ENDPOINT)
    assert type(error) is ServerError
    assert "Bad Gateway" in error.message


def test_api_key_never_appears_in_error_messages() -> None:
    body = _error_body("authentication_error", f"invalid x-api-key {KEY}")
    error = CODEC.parse_error(401, {}, body, ENDPOINT)
    assert KEY not in str(error)
    assert KEY not in error.message
    assert KEY not in repr(error)
    stream_error = {"type": "error", "error": {"type": "api_error", "message": f"key {KEY}"}}
    with pytest.raises(ServerError) as info:
        _decode(_sse(START) + _sse(stream_error))
    assert KEY not in str(info.value)


# --- request building ----------------------------------------------------------------------


def test_request_goes_to_messages_with_key_and_version_headers() -> None:
    endpoint = msgspec.structs.replace(
        ENDPOINT, base_url="https://proxy.example/", headers={"anthropic-beta": "x-2025"}
    )
    spec = CODEC.build_request(
        ChatRequest(model="r", messages=[Message(role="user", content="hi")]), endpoint
    )
    assert (spec.method, spec.url) == ("POST", "https://proxy.example/v1/messages")
    assert spec.headers["x-api-key"] == KEY
    assert spec.headers["anthropic-version"] == "2023-06-01"
    assert spec.headers["content-type"] == "application/json"
    assert spec.headers["anthropic-beta"] == "x-2025"
    assert KEY not in spec.url
    assert KEY.encode() not in spec.body


def test_default_base_url_and_api_version_override() -> None:
    endpoint = msgspec.structs.replace(ENDPOINT, base_url="", api_version="2024-01-01")
    spec = CODEC.build_request(
        ChatRequest(model="r", messages=[Message(role="user", content="hi")]), endpoint
    )
    assert spec.url == "https://api.anthropic.com/v1/messages"
    assert spec.headers["anthropic-version"] == "2024-01-01"


def test_system_messages_are_lifted_and_joined() -> None:
    body = _build(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="hi"),
            Message(role="system", content="Use French."),
        ]
    )
    assert body["system"] == "Be brief.\n\nUse French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["model"] == "claude-sonnet-4-5"


def test_consecutive_same_role_messages_are_merged_to_alternate() -> None:
    body = _build(
        messages=[
            Message(role="user", content="a"),
            Message(role="user", content="b"),
            Message(role="assistant", content="c"),
            Message(role="assistant", content=""),
            Message(role="assistant", content="d"),
        ]
    )
    assert [(m["role"], [b["text"] for b in m["content"]]) for m in body["messages"]] == [
        ("user", ["a", "b"]),
        ("assistant", ["c", "d"]),
    ]


def test_tool_calls_and_results_map_to_tool_use_and_tool_result_blocks() -> None:
    body = _build(
        messages=[
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                content=[
                    TextPart("Checking."),
                    ToolCallPart(id="toolu_1", name="weather", arguments={"city": "Paris"}),
                    ToolCallPart(id="toolu_2", name="weather", arguments={"city": "Rome"}),
                ],
            ),
            Message(role="tool", content=[ToolResultPart(tool_call_id="toolu_1", content="20C")]),
            Message(
                role="tool",
                content=[ToolResultPart(tool_call_id="toolu_2", content="boom", is_error=True)],
            ),
            Message(role="user", content="thanks"),
        ]
    )
    assistant, results = body["messages"][1], body["messages"][2]
    assert assistant["content"][1:] == [
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
    ]
    assert results["role"] == "user"
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "20C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": True},
        {"type": "text", "text": "thanks"},
    ]
    assert len(body["messages"]) == 3


def test_tool_results_come_first_in_a_user_turn() -> None:
    body = _build(
        messages=[
            Message(role="assistant", content=[ToolCallPart(id="t1", name="f")]),
            Message(
                role="user",
                content=[TextPart("note"), ToolResultPart(tool_call_id="t1", content="ok")],
            ),
        ]
    )
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_result", "text"]


def test_tool_call_without_id_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _build(messages=[Message(role="assistant", content=[ToolCallPart(id=None, name="f")])])
    assert info.value.field == "messages[0].content[0]"


def test_images_map_to_base64_and_url_sources() -> None:
    body = _build(
        messages=[
            Message(
                role="user",
                content=[
                    ImagePart(data="aGVsbG8=", media_type="image/png"),
                    ImagePart(url="https://example.com/cat.jpg"),
                    ImagePart(url="data:image/gif;base64,R0lG"),
                ],
            )
        ]
    )
    assert [b["source"] for b in body["messages"][0]["content"]] == [
        {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="},
        {"type": "url", "url": "https://example.com/cat.jpg"},
        {"type": "base64", "media_type": "image/gif", "data": "R0lG"},
    ]


def test_inline_image_without_media_type_is_rejected() -> None:
    with pytest.raises(InvalidRequestError):
        _build(messages=[Message(role="user", content=[ImagePart(data="aGVsbG8=")])])


TOOLS = [
    Tool(name="weather", description="Weather by city", parameters={"type": "object"}),
    Tool(name="clock", strict=True),
]


def test_tools_map_to_input_schema_definitions() -> None:
    body = _build(tools=TOOLS)
    assert body["tools"] == [
        {"name": "weather", "description": "Weather by city", "input_schema": {"type": "object"}},
        {"name": "clock", "input_schema": {"type": "object", "properties": {}}, "strict": True},
    ]
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (NamedToolChoice("clock"), {"type": "tool", "name": "clock"}),
    ],
)
def test_tool_choice_maps_to_anthropic_tool_choice(
    choice: str | NamedToolChoice, wire: dict[str, str]
) -> None:
    assert _build(tools=TOOLS, tool_choice=choice)["tool_choice"] == wire


def test_tool_choice_naming_an_unknown_tool_is_rejected() -> None:
    with pytest.raises(InvalidRequestError):
        _build(tools=TOOLS, tool_choice=NamedToolChoice("nope"))


def test_sampling_options_and_stream_flag_are_passed() -> None:
    body = _build(temperature=0.2, top_p=0.9, max_tokens=77, stop=["END"], stream=True)
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 77
    assert body["stop_sequences"] == ["END"]
    assert body["stream"] is True


def test_max_tokens_defaults_because_the_api_requires_it() -> None:
    body = _build()
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert "stream" not in body
    assert "temperature" not in body


def test_json_schema_response_format_uses_native_structured_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body = _build(response_format=ResponseFormat(json_schema=schema))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "system" not in body


def test_json_object_response_format_becomes_a_system_instruction() -> None:
    body = _build(
        messages=[Message(role="system", content="Be brief."), Message(role="user", content="x")],
        response_format=ResponseFormat(type="json_object"),
    )
    assert body["system"].startswith("Be brief.\n\n")
    assert "JSON" in body["system"]
    assert "output_config" not in body


def test_health_request_lists_models_with_the_key_header() -> None:
    spec = CODEC.health_request(ENDPOINT)
    assert (spec.method, spec.url) == ("GET", "https://api.anthropic.com/v1/models")
    assert spec.headers["x-api-key"] == KEY
    assert spec.headers["anthropic-version"] == "2023-06-01"
