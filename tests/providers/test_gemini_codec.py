"""The Gemini codec against recorded wire data and hand-built cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hubactors.errors import (
    AuthenticationError,
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
    ToolCallComplete,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.providers._sse import SSEEvent
from hubactors.providers.codecs._common import Endpoint, Secret
from hubactors.providers.codecs.gemini import CODEC, SIGNATURE_PLACEHOLDER
from hubactors.providers.codecs.gemini._partial_args import PartialArguments
from tests.providers._expected import accumulate, decode_stream, decode_until_error, text_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gemini"
KEY = "test-gemini-key-not-real-0042"
ENDPOINT = Endpoint(
    provider="gemini",
    model="gemini-2.5-flash",
    base_url="https://generativelanguage.googleapis.com",
    api_key=Secret(KEY),
    deployment="gemini-main",
)
VERTEX = "vertex-partial-args-parallel-tool-calls"
STREAMS = sorted(p.stem for p in FIXTURES.glob("*.sse") if p.stem != VERTEX)
BODIES = sorted(
    p.stem
    for p in FIXTURES.glob("*.json")
    if not p.name.endswith(".expected.json") and "error" not in p.name
)
SEEDS = [1, 2, 3]


def _decode(data: bytes, seed: int | None = None) -> list[StreamEvent]:
    return decode_stream(CODEC, ENDPOINT, data, seed)


_accumulate = accumulate


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def _calls(response: ChatResponse) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls]


def _assert_matches(response: ChatResponse, expected: dict[str, Any]) -> None:
    assert response.text == expected["text"]
    if "tool_calls" in expected:
        assert _calls(response) == expected["tool_calls"]
    assert response.raw_finish_reason == expected["finish_reason"]
    usage = expected["usage"]
    assert response.usage.input_tokens == usage["input_tokens"]
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.usage.cached_input_tokens == usage.get("cached_tokens", 0)
    assert response.usage.reasoning_tokens == usage.get("thoughts_tokens", 0)
    assert response.reasoning == expected.get("reasoning")


def _chunk(**fields: Any) -> bytes:
    return f"data: {json.dumps(fields)}\r\n\r\n".encode()


def _candidate(parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = finish
    return candidate


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
    events = _decode((FIXTURES / f"{name}.sse").read_bytes(), seed)
    assert isinstance(events[0], StreamStart)
    assert isinstance(events[-1], Finish)
    assert sum(isinstance(e, Finish) for e in events) == 1
    _assert_matches(_accumulate(events), _expected(name))


def _assemble_sdk_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outside check's rule: a named part opens a call, partial_args set "$.key" values
    (string values concatenated), and a part that does not continue closes the call."""
    calls: list[dict[str, Any]] = []
    open_call: dict[str, Any] | None = None
    for part in parts:
        if part["name"] is not None:
            open_call = {"id": part["id"], "name": part["name"], "arguments": {}}
            calls.append(open_call)
        assert open_call is not None
        for arg in part.get("partial_args") or []:
            key = arg["json_path"].removeprefix("$.")
            open_call["arguments"][key] = open_call["arguments"].get(key, "") + arg["string_value"]
        if not part.get("will_continue"):
            open_call = None
    return calls


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_vertex_partial_args_are_assembled_into_whole_tool_calls(seed: int | None) -> None:
    expected = _expected(VERTEX)
    events = _decode((FIXTURES / f"{VERTEX}.sse").read_bytes(), seed)
    response = _accumulate(events)
    _assert_matches(response, expected)
    assert _calls(response) == _assemble_sdk_parts(expected["sdk_function_call_parts"])
    assert _calls(response) == [
        {"id": None, "name": "read_theme", "arguments": {}},
        {"id": None, "name": "read_screen", "arguments": {"id": "A"}},
        {"id": None, "name": "read_screen", "arguments": {"id": "B"}},
        {"id": None, "name": "read_screen", "arguments": {"id": "C"}},
    ]
    assert response.finish_reason is FinishReason.TOOL_CALLS


@pytest.mark.parametrize("name", [*STREAMS, VERTEX])
def test_tool_call_deltas_concatenate_to_the_completed_arguments(name: str) -> None:
    fragments: dict[int, str] = {}
    for event in _decode((FIXTURES / f"{name}.sse").read_bytes()):
        if isinstance(event, ToolCallDelta):
            fragments[event.index] = fragments.get(event.index, "") + event.arguments
        if isinstance(event, ToolCallComplete):
            text = fragments.get(event.index, "")
            assert (json.loads(text) if text else {}) == event.tool_call.arguments


@pytest.mark.parametrize("name", BODIES)
def test_recorded_body_matches_sdk_result(name: str) -> None:
    response = CODEC.parse_response((FIXTURES / f"{name}.json").read_bytes(), ENDPOINT)
    _assert_matches(response, _expected(name))


def test_function_call_with_stop_normalizes_to_tool_calls_and_keeps_raw_stop() -> None:
    body = (FIXTURES / "gemini-tool-call-nonstream.json").read_bytes()
    response = CODEC.parse_response(body, ENDPOINT)
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.raw_finish_reason == "STOP"


def test_recorded_429_becomes_rate_limit_error_with_retry_info_delay() -> None:
    expected = _expected("gemini-error-429-retry-info")["error"]
    body = (FIXTURES / "gemini-error-429-retry-info.json").read_bytes()
    error = CODEC.parse_error(429, {}, body, ENDPOINT)
    assert type(error) is RateLimitError
    assert error.status == 429
    assert error.error_type == expected["type"]
    assert error.message == expected["message"]
    assert error.retry_after == pytest.approx(34.4)
    assert error.retryable is True
    assert error.deployment == "gemini-main"


# --- stream edge cases ---------------------------------------------------------------------


def test_stream_without_finish_reason_raises_stream_interrupted_after_its_text() -> None:
    data = _chunk(candidates=[_candidate([{"text": "Hel"}])])
    events, error = decode_until_error(CODEC, ENDPOINT, data)
    assert text_of(events) == "Hel"
    assert isinstance(error, StreamInterruptedError)


def test_recorded_stream_cut_before_the_finishing_chunk_raises_stream_interrupted() -> None:
    data = (FIXTURES / "gemini-text.sse").read_bytes()
    cut = data[: data.rindex(b"data: ")]
    with pytest.raises(StreamInterruptedError):
        _decode(cut, seed=5)


def test_error_object_in_a_chunk_raises_the_typed_error() -> None:
    error = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    data = _chunk(candidates=[_candidate([{"text": "a"}])]) + _chunk(error=error)
    with pytest.raises(ServerError) as info:
        _decode(data)
    assert (info.value.status, info.value.error_type) == (503, "UNAVAILABLE")
    assert info.value.retryable is True


def test_blocked_prompt_in_a_stream_raises_content_filter_error() -> None:
    data = _chunk(promptFeedback={"blockReason": "SAFETY"}, usageMetadata={"promptTokenCount": 3})
    with pytest.raises(ContentFilterError) as info:
        _decode(data)
    assert "SAFETY" in info.value.message


def test_safety_finish_in_a_stream_normalizes_to_content_filter() -> None:
    data = _chunk(candidates=[_candidate([{"text": "Sure"}])]) + _chunk(
        candidates=[{"finishReason": "SAFETY"}], usageMetadata={"promptTokenCount": 4}
    )
    events = _decode(data)
    assert events[-1] == Finish(
        finish_reason=FinishReason.CONTENT_FILTER, raw_finish_reason="SAFETY"
    )
    assert _accumulate(events).usage.input_tokens == 4


def test_whole_function_calls_with_ids_stream_as_delta_and_complete() -> None:
    call = {"functionCall": {"id": "call_7", "name": "f", "args": {"n": 1}}}
    events = _decode(_chunk(candidates=[_candidate([call], "STOP")]))
    assert [e for e in events if isinstance(e, ToolCallDelta | ToolCallComplete)] == [
        ToolCallDelta(index=0, id="call_7", name="f"),
        ToolCallDelta(index=0, arguments='{"n":1}'),
        ToolCallComplete(index=0, tool_call=_accumulate(events).tool_calls[0]),
    ]
    assert _calls(_accumulate(events)) == [{"id": "call_7", "name": "f", "arguments": {"n": 1}}]


def test_partial_args_of_every_value_kind_and_nested_paths_are_assembled() -> None:
    fragments = [
        {"jsonPath": "$.title", "stringValue": "Hel", "willContinue": True},
        {"jsonPath": "$.title", "stringValue": "lo"},
        {"jsonPath": "$.count", "numberValue": 3},
        {"jsonPath": "$.ratio", "numberValue": 0.5},
        {"jsonPath": "$.ok", "boolValue": False},
        {"jsonPath": "$.none", "nullValue": None},
        {"jsonPath": "$.where.city", "stringValue": "Paris"},
        {"jsonPath": "$.tags[1]", "stringValue": "b"},
        {"jsonPath": "$.tags[0]", "stringValue": "a"},
        {"jsonPath": "$['odd key']", "stringValue": "x"},
    ]
    data = _chunk(candidates=[_candidate([{"functionCall": {"name": "f", "willContinue": True}}])])
    for fragment in fragments:
        part = {"functionCall": {"partialArgs": [fragment], "willContinue": True}}
        data += _chunk(candidates=[_candidate([part])])
    data += _chunk(candidates=[_candidate([{"functionCall": {}}], "STOP")])
    (call,) = _accumulate(_decode(data, seed=9)).tool_calls
    assert call.arguments == {
        "title": "Hello",
        "count": 3,
        "ratio": 0.5,
        "ok": False,
        "none": None,
        "where": {"city": "Paris"},
        "tags": ["a", "b"],
        "odd key": "x",
    }


def test_a_string_fragment_that_does_not_continue_replaces_the_value() -> None:
    args = PartialArguments()
    args.add("$.a", "one", is_string=True, will_continue=False)
    args.add("$.a", "two", is_string=True, will_continue=False)
    assert args.value == {"a": "two"}


@pytest.mark.parametrize("path", ["a.b", "$", "$..a", "$.a[x]"])
def test_unsupported_json_paths_are_rejected(path: str) -> None:
    with pytest.raises(ValueError):
        PartialArguments().add(path, 1, is_string=False, will_continue=False)


def test_thought_parts_stream_as_reasoning_not_text() -> None:
    data = _chunk(
        candidates=[_candidate([{"text": "hmm", "thought": True}, {"text": "Hi"}], "STOP")]
    )
    response = _accumulate(_decode(data))
    assert (response.text, response.reasoning) == ("Hi", "hmm")


def test_malformed_chunk_raises_server_error() -> None:
    with pytest.raises(ServerError):
        CODEC.stream_decoder(ENDPOINT).feed(SSEEvent(data="{oops"))


# --- non-streaming edge cases --------------------------------------------------------------


def _body(candidates: list[dict[str, Any]], **extra: Any) -> bytes:
    usage = {"promptTokenCount": 7, "candidatesTokenCount": 2, "cachedContentTokenCount": 5}
    return json.dumps({"candidates": candidates, "usageMetadata": usage, **extra}).encode()


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("STOP", FinishReason.STOP),
        ("MAX_TOKENS", FinishReason.LENGTH),
        ("SAFETY", FinishReason.CONTENT_FILTER),
        ("RECITATION", FinishReason.CONTENT_FILTER),
        ("BLOCKLIST", FinishReason.CONTENT_FILTER),
        ("PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER),
        ("SPII", FinishReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", FinishReason.ERROR),
        ("OTHER", FinishReason.STOP),
    ],
)
def test_finish_reason_is_normalized_and_the_raw_value_kept(
    raw: str, normalized: FinishReason
) -> None:
    response = CODEC.parse_response(_body([_candidate([{"text": "x"}], raw)]), ENDPOINT)
    assert response.finish_reason is normalized
    assert response.raw_finish_reason == raw


def test_safety_finish_without_content_is_an_empty_content_filtered_response() -> None:
    response = CODEC.parse_response(_body([{"finishReason": "SAFETY"}]), ENDPOINT)
    assert response.text == ""
    assert response.finish_reason is FinishReason.CONTENT_FILTER
    assert response.usage.cached_input_tokens == 5


def test_blocked_prompt_raises_content_filter_error_naming_the_reason() -> None:
    body = json.dumps(
        {
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "blockReasonMessage": "The prompt was blocked.",
            },
            "usageMetadata": {"promptTokenCount": 4},
        }
    ).encode()
    with pytest.raises(ContentFilterError) as info:
        CODEC.parse_response(body, ENDPOINT)
    assert "PROHIBITED_CONTENT" in info.value.message
    assert info.value.error_type == "PROHIBITED_CONTENT"
    assert info.value.retryable is False


def test_thought_parts_become_reasoning_in_a_body() -> None:
    parts = [{"text": "think", "thought": True}, {"text": "answer"}]
    response = CODEC.parse_response(_body([_candidate(parts, "STOP")]), ENDPOINT)
    assert (response.text, response.reasoning) == ("answer", "think")


def test_body_without_candidates_or_block_raises_server_error() -> None:
    with pytest.raises(ServerError):
        CODEC.parse_response(b'{"candidates": []}', ENDPOINT)


# --- errors --------------------------------------------------------------------------------


def _error_body(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    error = {"code": code, "message": message, "status": status, "details": details or []}
    return json.dumps({"error": error}).encode()


TOO_LONG = "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)."
KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
    }
]


@pytest.mark.parametrize(
    ("status", "rpc_status", "message", "details", "cls"),
    [
        (400, "INVALID_ARGUMENT", "Invalid JSON payload", None, ProviderInvalidRequestError),
        (400, "INVALID_ARGUMENT", "API key not valid.", KEY_INVALID, AuthenticationError),
        (400, "INVALID_ARGUMENT", TOO_LONG, None, ContextLengthError),
        (401, "UNAUTHENTICATED", "Request had invalid credentials.", None, AuthenticationError),
        (403, "PERMISSION_DENIED", "Permission denied.", None, PermissionDeniedError),
        (404, "NOT_FOUND", "models/nope is not found", None, NotFoundError),
        (429, "RESOURCE_EXHAUSTED", "Quota exceeded", None, RateLimitError),
        (500, "INTERNAL", "An internal error has occurred.", None, ServerError),
        (503, "UNAVAILABLE", "The model is overloaded.", None, ServerError),
    ],
)
def test_error_status_maps_to_the_error_class(
    status: int,
    rpc_status: str,
    message: str,
    details: list[Any] | None,
    cls: type[ProviderError],
) -> None:
    error = CODEC.parse_error(
        status, {}, _error_body(status, rpc_status, message, details), ENDPOINT
    )
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (status, rpc_status, message)
    assert error.provider == "gemini"


def test_api_key_invalid_reason_is_kept_as_code() -> None:
    body = _error_body(400, "INVALID_ARGUMENT", "API key not valid.", KEY_INVALID)
    assert CODEC.parse_error(400, {}, body, ENDPOINT).code == "API_KEY_INVALID"


def test_retry_after_falls_back_to_headers_without_retry_info() -> None:
    body = _error_body(429, "RESOURCE_EXHAUSTED", "slow down")
    error = CODEC.parse_error(429, {"retry-after": "3"}, body, ENDPOINT)
    assert error.retry_after == 3.0


def test_error_body_wrapped_in_a_list_is_understood() -> None:
    body = b'[{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}]'
    error = CODEC.parse_error(404, {}, body, ENDPOINT)
    assert type(error) is NotFoundError
    assert error.message == "gone"


def test_non_json_error_body_maps_by_status() -> None:
    error = CODEC.parse_error(502, {}, b"<html>Bad Gateway</html>", ENDPOINT)
    assert type(error) is ServerError
    assert "Bad Gateway" in error.message


def test_api_key_never_appears_in_error_messages() -> None:
    body = _error_body(400, "INVALID_ARGUMENT", f"API key {KEY} not valid", KEY_INVALID)
    error = CODEC.parse_error(400, {}, body, ENDPOINT)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    other = msgspec.structs.replace(ENDPOINT, api_key=Secret("plain-secret-value"))
    body = _error_body(500, "INTERNAL", "failed for plain-secret-value")
    assert "plain-secret-value" not in CODEC.parse_error(500, {}, body, other).message


# --- request building ----------------------------------------------------------------------


def test_non_stream_request_url_and_key_header() -> None:
    spec = CODEC.build_request(
        ChatRequest(model="r", messages=[Message(role="user", content="hi")]), ENDPOINT
    )
    assert spec.method == "POST"
    assert spec.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert spec.headers["x-goog-api-key"] == KEY
    assert spec.headers["content-type"] == "application/json"
    assert KEY not in spec.url
    assert KEY.encode() not in spec.body


def test_stream_request_uses_stream_generate_content_with_sse() -> None:
    endpoint = msgspec.structs.replace(
        ENDPOINT, model="models/gemini-3-pro", base_url="https://gw.example/", api_version="v1"
    )
    spec = CODEC.build_request(
        ChatRequest(model="r", messages=[Message(role="user", content="hi")], stream=True),
        endpoint,
    )
    assert spec.url == "https://gw.example/v1/models/gemini-3-pro:streamGenerateContent?alt=sse"
    assert "key=" not in spec.url


def test_endpoint_headers_are_sent() -> None:
    endpoint = msgspec.structs.replace(ENDPOINT, headers={"x-goog-user-project": "p1"})
    spec = CODEC.build_request(
        ChatRequest(model="r", messages=[Message(role="user", content="hi")]), endpoint
    )
    assert spec.headers["x-goog-user-project"] == "p1"


def test_roles_map_and_system_becomes_system_instruction() -> None:
    body = _build(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="system", content="Use French."),
            Message(role="user", content="a"),
            Message(role="user", content="b"),
            Message(role="assistant", content="c"),
        ]
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nUse French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}]},
    ]


def test_images_map_to_inline_and_file_data() -> None:
    body = _build(
        messages=[
            Message(
                role="user",
                content=[
                    TextPart("look"),
                    ImagePart(data="aGVsbG8=", media_type="image/png"),
                    ImagePart(url="gs://bucket/cat.jpg", media_type="image/jpeg"),
                    ImagePart(url="https://example.com/dog"),
                    ImagePart(url="data:image/webp;base64,UklG"),
                ],
            )
        ]
    )
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "aGVsbG8="}},
        {"fileData": {"fileUri": "gs://bucket/cat.jpg", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://example.com/dog"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
    ]


def test_tool_calls_and_results_map_to_function_call_and_response_parts() -> None:
    body = _build(
        messages=[
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                content=[
                    ToolCallPart(id="c1", name="weather", arguments={"city": "Paris"}),
                    ToolCallPart(id=None, name="clock"),
                ],
            ),
            Message(role="tool", content=[ToolResultPart(tool_call_id="c1", content="20C")]),
            Message(
                role="tool",
                content=[ToolResultPart(tool_call_id="clock", content="late", is_error=True)],
            ),
        ]
    )
    model, results = body["contents"][1], body["contents"][2]
    assert model["role"] == "model"
    assert model["parts"] == [
        {
            "functionCall": {"name": "weather", "args": {"city": "Paris"}, "id": "c1"},
            "thoughtSignature": SIGNATURE_PLACEHOLDER,
        },
        {"functionCall": {"name": "clock", "args": {}}},
    ]
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"output": "20C"}, "id": "c1"}},
            {"functionResponse": {"name": "clock", "response": {"error": "late"}}},
        ],
    }


def test_tool_result_name_given_explicitly_wins() -> None:
    body = _build(
        messages=[
            Message(role="assistant", content=[ToolCallPart(id=None, name="f")]),
            Message(role="tool", content=[ToolResultPart(tool_call_id="x", name="f", content="1")]),
        ]
    )
    assert body["contents"][1]["parts"][0]["functionResponse"]["name"] == "f"


def test_tool_result_for_an_unknown_call_is_rejected() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _build(
            messages=[Message(role="tool", content=[ToolResultPart(tool_call_id="z", content="1")])]
        )
    assert info.value.field == "messages[0].content[0]"


def test_each_model_turn_signs_only_its_first_function_call() -> None:
    a, b, c = (ToolCallPart(id=i, name="f") for i in "abc")
    results = [ToolResultPart(tool_call_id=i, content="1") for i in "ab"]
    body = _build(
        messages=[
            Message(role="assistant", content=[a, b]),
            Message(role="tool", content=list(results)),
            Message(role="assistant", content=[TextPart("then"), c]),
        ]
    )
    signed = [
        [("thoughtSignature" in part) for part in content["parts"]]
        for content in body["contents"]
        if content["role"] == "model"
    ]
    assert signed == [[True, False], [False, True]]


TOOLS = [
    Tool(name="weather", description="Weather by city", parameters={"type": "object"}),
    Tool(name="clock"),
]


def test_tools_map_to_function_declarations_with_json_schema() -> None:
    body = _build(tools=TOOLS)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "weather",
                    "description": "Weather by city",
                    "parametersJsonSchema": {"type": "object"},
                },
                {"name": "clock", "parametersJsonSchema": {"type": "object", "properties": {}}},
            ]
        }
    ]
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (NamedToolChoice("clock"), {"mode": "ANY", "allowedFunctionNames": ["clock"]}),
    ],
)
def test_tool_choice_maps_to_function_calling_config(
    choice: str | NamedToolChoice, config: dict[str, Any]
) -> None:
    body = _build(tools=TOOLS, tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_tool_choice_naming_an_unknown_tool_is_rejected() -> None:
    with pytest.raises(InvalidRequestError):
        _build(tools=TOOLS, tool_choice=NamedToolChoice("nope"))


def test_generation_config_carries_sampling_options() -> None:
    body = _build(temperature=0.3, top_p=0.8, max_tokens=99, stop=["END"])
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.8,
        "maxOutputTokens": 99,
        "stopSequences": ["END"],
    }


def test_no_generation_config_without_options() -> None:
    assert "generationConfig" not in _build()


def test_json_schema_response_format_sets_mime_type_and_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }
    config = _build(response_format=ResponseFormat(json_schema=schema))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


def test_json_object_response_format_sets_only_the_mime_type() -> None:
    config = _build(response_format=ResponseFormat(type="json_object"))["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_health_request_lists_models_with_the_key_header() -> None:
    spec = CODEC.health_request(ENDPOINT)
    assert (spec.method, spec.url) == (
        "GET",
        "https://generativelanguage.googleapis.com/v1beta/models",
    )
    assert spec.headers["x-goog-api-key"] == KEY
    assert KEY not in spec.url
