"""OpenAI-shaped dicts -> data model (and a response back), with exact error paths."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import msgspec
import pytest

from hubactors.errors import InvalidRequestError
from hubactors.model._convert import (
    coerce_request,
    messages_from_openai,
    request_from_openai,
    response_to_openai,
)
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    NamedToolChoice,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from hubactors.model._validate import validate_request

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


def call(
    call_id: str = "call_1", name: str = "get_weather", arguments: str = '{"city":"Oslo"}'
) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_conversation() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12C and rain"},
    ]


def request(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
    data.update(overrides)
    return data


def field_of(excinfo: pytest.ExceptionInfo[InvalidRequestError]) -> str | None:
    return excinfo.value.field


def user_parts(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}]


# --- messages ------------------------------------------------------------------------------


def test_string_content_becomes_a_string_message() -> None:
    [msg] = messages_from_openai([{"role": "user", "content": "hello", "name": "ann"}])
    assert msg == Message(role="user", content="hello", name="ann")


def test_developer_role_becomes_system() -> None:
    [msg] = messages_from_openai([{"role": "developer", "content": "be brief"}])
    assert msg == Message(role="system", content="be brief")


def test_system_text_parts_become_text_parts() -> None:
    [msg] = messages_from_openai(
        [
            {
                "role": "system",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ]
    )
    assert msg.content == [TextPart("a"), TextPart("b")]


def test_image_url_part_keeps_url_and_detail() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x.test/cat.png", "detail": "low"}}
    [msg] = messages_from_openai(user_parts(image))
    assert msg.content == [TextPart("look"), ImagePart(url="https://x.test/cat.png", detail="low")]


def test_data_url_is_split_into_media_type_and_base64_data() -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/PNG;base64,{PNG}"}}
    [msg] = messages_from_openai(user_parts(image))
    assert msg.parts[1] == ImagePart(data=PNG, media_type="image/png")


def test_responses_api_input_image_and_input_text_are_accepted() -> None:
    content = [
        {"type": "input_text", "text": "what is this"},
        {"type": "input_image", "image_url": "https://x.test/a.jpg", "detail": "high"},
    ]
    [msg] = messages_from_openai([{"role": "user", "content": content}])
    assert msg.content == [
        TextPart("what is this"),
        ImagePart(url="https://x.test/a.jpg", detail="high"),
    ]


def test_assistant_tool_calls_become_tool_call_parts_with_parsed_arguments() -> None:
    [msg] = messages_from_openai(
        [{"role": "assistant", "content": "Checking.", "tool_calls": [call(), call("call_2")]}]
    )
    assert msg.content == [
        TextPart("Checking."),
        ToolCallPart(id="call_1", name="get_weather", arguments={"city": "Oslo"}),
        ToolCallPart(id="call_2", name="get_weather", arguments={"city": "Oslo"}),
    ]


def test_assistant_tool_call_with_blank_arguments_has_no_arguments() -> None:
    [msg] = messages_from_openai(
        [{"role": "assistant", "content": None, "tool_calls": [call(arguments="")]}]
    )
    assert msg.content == [ToolCallPart(id="call_1", name="get_weather", arguments={})]


def test_assistant_refusal_part_is_kept_as_text() -> None:
    [msg] = messages_from_openai(
        [{"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]}]
    )
    assert msg.text == "I can't."


def test_tool_message_becomes_a_tool_result_part() -> None:
    msgs = messages_from_openai(tool_conversation())
    assert msgs[2] == Message(
        role="tool", content=[ToolResultPart(tool_call_id="call_1", content="12C and rain")]
    )


def test_tool_message_text_parts_are_joined() -> None:
    content = [{"type": "text", "text": "12C"}, {"type": "text", "text": " and rain"}]
    [msg] = messages_from_openai([{"role": "tool", "tool_call_id": "c", "content": content}])
    assert msg.content == [ToolResultPart(tool_call_id="c", content="12C and rain")]


def test_message_objects_are_kept_as_they_are() -> None:
    mine = Message(role="user", content="hi")
    assert messages_from_openai([mine, {"role": "assistant", "content": "yo"}])[0] is mine


def test_messages_alone_may_hold_a_tool_result_without_its_call() -> None:
    # Converting a fragment to append to a longer history is legitimate; the request checks.
    [msg] = messages_from_openai([{"role": "tool", "tool_call_id": "c9", "content": "ok"}])
    assert msg.role == "tool"


def test_tool_call_round_trip_through_response_and_back() -> None:
    resp = ChatResponse(
        id="r1",
        model="m",
        tool_calls=[ToolCall(id="call_7", name="get_weather", arguments={"city": "Oslo"})],
        finish_reason=FinishReason.TOOL_CALLS,
    )
    assistant = response_to_openai(resp)["choices"][0]["message"]
    [msg] = messages_from_openai([assistant])
    assert msg.content == [
        ToolCallPart(id="call_7", name="get_weather", arguments={"city": "Oslo"})
    ]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "function", "content": "x"}], "messages[0].role"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": 3, "content": "x"}], "messages[0].role"),
        (["hello"], "messages[0]"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": ["x"]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "input_audio"}]}], "messages[0].content[0].type"),
        (
            [{"role": "user", "content": [{"type": "text", "text": 1}]}],
            "messages[0].content[0].text",
        ),
        ([{"role": "assistant"}], "messages[0].content"),
        ([{"role": "assistant", "content": None, "tool_calls": {}}], "messages[0].tool_calls"),
        ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id"),
        ([{"role": "tool", "tool_call_id": "c"}], "messages[0].content"),
        (
            [{"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url"}]}],
            "messages[0].content[0]",
        ),
        (
            [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0].type",
        ),
        (
            [{"role": "assistant", "content": "x", "function_call": {"name": "f"}}],
            "messages[0].function_call",
        ),
    ],
)
def test_malformed_messages_name_the_field(messages: list[Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai(messages)
    assert field_of(excinfo) == field


@pytest.mark.parametrize(
    ("tool_call", "field"),
    [
        (call(arguments="{not json"), "messages[0].tool_calls[0].function.arguments"),
        (call(arguments="[1, 2]"), "messages[0].tool_calls[0].function.arguments"),
        (call(arguments="42"), "messages[0].tool_calls[0].function.arguments"),
        ({"type": "function", "function": {"name": "f"}}, "messages[0].tool_calls[0].id"),
        ({"id": "c", "type": "function"}, "messages[0].tool_calls[0].function"),
        ({"id": "c", "type": "custom", "custom": {}}, "messages[0].tool_calls[0].type"),
        (call(name=""), "messages[0].tool_calls[0].function.name"),
        ("call", "messages[0].tool_calls[0]"),
    ],
)
def test_malformed_tool_calls_name_the_field(tool_call: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai([{"role": "assistant", "content": None, "tool_calls": [tool_call]}])
    assert field_of(excinfo) == field


@pytest.mark.parametrize(
    ("image", "field", "reason"),
    [
        ({"url": "ftp://x.test/a.png"}, "image_url.url", "http(s)"),
        ({"url": "https://"}, "image_url.url", "http(s)"),
        ({"url": "data:image/png;base64,@@@@"}, "image_url.url", "base64"),
        ({"url": "data:image/png;base64,QUI"}, "image_url.url", "base64"),  # unpadded
        ({"url": f"data:text/plain;base64,{PNG}"}, "image_url.url", "image media type"),
        ({"url": f"data:image/png,{PNG}"}, "image_url.url", "base64-encoded"),
        ({"url": "data:image/png;base64"}, "image_url.url", "malformed"),
        ({"url": "data:image/png;base64,"}, "image_url.url", "empty"),
        ({"url": None}, "image_url.url", "string"),
        ({"url": "https://x.test/a.png", "detail": "ultra"}, "image_url.detail", "auto"),
    ],
)
def test_malformed_images_name_the_field(image: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai(user_parts({"type": "image_url", "image_url": image}))
    assert field_of(excinfo) == f"messages[0].content[1].{field}"
    assert reason in str(excinfo.value)


def test_input_image_by_file_id_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai(user_parts({"type": "input_image", "file_id": "file-1"}))
    assert field_of(excinfo) == "messages[0].content[1].file_id"


def test_messages_must_be_a_list() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai("hello")  # type: ignore[arg-type]
    assert field_of(excinfo) == "messages"


# --- our own msgspec shape -----------------------------------------------------------------


def full_request() -> ChatRequest:
    return ChatRequest(
        model="route",
        messages=[
            Message(role="system", content="sys"),
            Message(
                role="user",
                content=[TextPart("see"), ImagePart(data=PNG, media_type="image/png")],
                name="ann",
            ),
            Message(role="assistant", content=[ToolCallPart(id="c1", name="t", arguments={})]),
            Message(role="tool", content=[ToolResultPart(tool_call_id="c1", content="done")]),
        ],
        tools=[Tool(name="t", description="d", strict=True)],
        tool_choice=NamedToolChoice("t"),
        response_format=ResponseFormat(json_schema={"type": "object"}, name="out"),
        temperature=0.5,
        top_p=0.9,
        max_tokens=100,
        stop=["END"],
        stream=True,
        metadata={"k": "v"},
        timeout=30.0,
        deadline=123.0,
        priority=2,
    )


def test_builtins_of_our_own_request_convert_back_to_it() -> None:
    original = full_request()
    assert coerce_request(msgspec.to_builtins(original)) == original


def test_native_part_errors_carry_msgspec_paths_under_ours() -> None:
    bad = {"role": "user", "content": [{"kind": "text", "text": 5}]}
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai([bad])
    assert field_of(excinfo) == "messages[0].content[0].text"


def test_native_image_parts_are_validated() -> None:
    bad = {"role": "user", "content": [{"kind": "image", "data": "@@", "media_type": "image/png"}]}
    with pytest.raises(InvalidRequestError) as excinfo:
        messages_from_openai([bad])
    assert field_of(excinfo) == "messages[0].content[0].data"


# --- requests ------------------------------------------------------------------------------


def test_request_converts_every_supported_parameter() -> None:
    req = request_from_openai(
        request(
            messages=tool_conversation(),
            tools=[WEATHER_TOOL],
            tool_choice="auto",
            temperature=0.2,
            top_p=0.5,
            max_tokens=64,
            stop="\n\n",
            stream=True,
            stream_options={"include_usage": True},
            metadata={"user": "u1"},
            n=1,
            timeout=10,
            deadline=99.5,
            priority=-1,
        )
    )
    assert req.tools == [
        Tool(
            name="get_weather",
            description="Weather for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            strict=True,
        )
    ]
    assert (req.tool_choice, req.temperature, req.top_p, req.max_tokens) == ("auto", 0.2, 0.5, 64)
    assert (req.stop, req.stream, req.metadata) == (["\n\n"], True, {"user": "u1"})
    assert (req.timeout, req.deadline, req.priority) == (10.0, 99.5, -1)
    assert len(req.messages) == 3


def test_request_defaults_when_only_model_and_messages_are_given() -> None:
    req = request_from_openai(request())
    assert req == ChatRequest(model="gpt", messages=[Message(role="user", content="hi")])


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    req = request_from_openai(request(tools=[{"type": "function", "function": {"name": "ping"}}]))
    assert req.tools[0].parameters == {"type": "object", "properties": {}}


def test_max_completion_tokens_sets_max_tokens() -> None:
    assert request_from_openai(request(max_completion_tokens=77)).max_tokens == 77
    assert request_from_openai(request(max_completion_tokens=7, max_tokens=7)).max_tokens == 7


def test_conflicting_max_tokens_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        request_from_openai(request(max_completion_tokens=7, max_tokens=8))
    assert field_of(excinfo) == "max_completion_tokens"


def test_stop_list_is_kept() -> None:
    assert request_from_openai(request(stop=["a", "b", "c", "d", "e"])).stop == list("abcde")


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "get_weather"}}, NamedToolChoice("get_weather")),
        ({"name": "get_weather"}, NamedToolChoice("get_weather")),
    ],
)
def test_tool_choice_forms(choice: Any, expected: Any) -> None:
    req = request_from_openai(request(tools=[WEATHER_TOOL], tool_choice=choice))
    assert req.tool_choice == expected


SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, ResponseFormat(type="text")),
        ({"type": "json_object"}, ResponseFormat(type="json_object")),
        (
            {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMA}},
            ResponseFormat(name="out", json_schema=SCHEMA, strict=False),
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "o", "schema": SCHEMA, "strict": True}},
            ResponseFormat(name="o", json_schema=SCHEMA, strict=True),
        ),
        (
            {"type": "json_schema", "json_schema": SCHEMA},
            ResponseFormat(name="response", json_schema=SCHEMA, strict=True),
        ),
    ],
)
def test_response_format_forms(fmt: dict[str, Any], expected: ResponseFormat) -> None:
    assert request_from_openai(request(response_format=fmt)).response_format == expected


def test_unknown_keys_are_ignored_unless_strict() -> None:
    data = request(seed=7, user="u", frequency_penalty=0.1)
    assert request_from_openai(data) == request_from_openai(request())
    with pytest.raises(InvalidRequestError) as excinfo:
        request_from_openai(data, strict=True)
    assert field_of(excinfo) == "seed"


def test_tool_conversation_passes_validation_after_conversion() -> None:
    validate_request(request_from_openai(request(messages=tool_conversation())))


def test_tool_call_id_may_be_reused_after_it_was_answered() -> None:
    conv = tool_conversation()
    conv += [
        {"role": "assistant", "content": None, "tool_calls": [call()]},
        {"role": "tool", "tool_call_id": "call_1", "content": "still rain"},
    ]
    assert len(request_from_openai(request(messages=conv)).messages) == 5


def test_mixed_message_objects_and_dicts_are_paired() -> None:
    conv: list[Any] = tool_conversation()
    conv[1] = Message(role="assistant", content=[ToolCallPart(id="call_1", name="get_weather")])
    assert request_from_openai(request(messages=conv)).messages[1] is conv[1]


BAD_REQUESTS: list[tuple[Any, str | None]] = [
    (request(model=""), "model"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
    (request(messages=[]), "messages"),
    ({"model": "m"}, "messages"),
    (request(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
    (request(max_tokens=0), "max_tokens"),
    (request(max_tokens=-5), "max_tokens"),
    (request(max_tokens=1.5), "max_tokens"),
    (request(max_tokens=True), "max_tokens"),
    (request(max_completion_tokens=0), "max_completion_tokens"),
    (request(temperature=2.5), "temperature"),
    (request(temperature=-0.1), "temperature"),
    (request(temperature="hot"), "temperature"),
    (request(top_p=0), "top_p"),
    (request(top_p=1.01), "top_p"),
    (request(stop=["ok", ""]), "stop[1]"),
    (request(stop=""), "stop"),
    (request(stop=5), "stop"),
    (request(stream="yes"), "stream"),
    (request(metadata={"k": 1}), "metadata.k"),
    (request(metadata=["k"]), "metadata"),
    (request(timeout=0), "timeout"),
    (request(timeout=-1), "timeout"),
    (request(priority=1.5), "priority"),
    (request(deadline="soon"), "deadline"),
    (request(n=2), "n"),
    (request(functions=[{"name": "f"}]), "functions"),
    (request(function_call="auto"), "function_call"),
    (request(tools={}), "tools"),
    (request(tools=["f"]), "tools[0]"),
    (request(tools=[{"type": "web_search"}]), "tools[0].type"),
    (request(tools=[{"type": "function"}]), "tools[0].function"),
    (
        request(tools=[{"type": "function", "function": {"name": "has space"}}]),
        "tools[0].function.name",
    ),
    (
        request(tools=[{"type": "function", "function": {"name": "x" * 65}}]),
        "tools[0].function.name",
    ),
    (request(tools=[WEATHER_TOOL, WEATHER_TOOL]), "tools[1].function.name"),
    (
        request(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
    ),
    (
        request(
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]
        ),
        "tools[0].function.parameters",
    ),
    (
        request(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
        "tools[0].function.strict",
    ),
    (
        request(tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "x"}}),
        "tool_choice.function.name",
    ),
    (request(tools=[WEATHER_TOOL], tool_choice={"name": "x"}), "tool_choice.name"),
    (request(tools=[WEATHER_TOOL], tool_choice="always"), "tool_choice"),
    (request(tool_choice="required"), "tool_choice"),
    (request(tool_choice=3), "tool_choice"),
    (request(tool_choice={"type": "allowed_tools"}), "tool_choice.type"),
    (request(response_format="json"), "response_format"),
    (request(response_format={"type": "xml"}), "response_format.type"),
    (request(response_format={"type": "json_schema"}), "response_format.json_schema"),
    (
        request(response_format={"type": "json_schema", "json_schema": {"name": "out"}}),
        "response_format.json_schema.schema",
    ),
    (
        request(
            response_format={"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}
        ),
        "response_format.json_schema.name",
    ),
    (
        request(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}]),
        "messages[0].tool_call_id",
    ),
    (
        request(
            messages=[
                *tool_conversation(),
                {"role": "tool", "tool_call_id": "call_1", "content": "again"},
            ]
        ),
        "messages[3].tool_call_id",
    ),
    (
        request(
            messages=[
                {"role": "assistant", "content": None, "tool_calls": [call(), call()]},
            ]
        ),
        "messages[0].tool_calls[1].id",
    ),
    ("not a request", None),
]


@pytest.mark.parametrize(("data", "field"), BAD_REQUESTS)
def test_bad_requests_name_the_field(data: Any, field: str | None) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        request_from_openai(data)
    assert field_of(excinfo) == field


def test_unmatched_tool_result_message_says_what_is_missing() -> None:
    with pytest.raises(InvalidRequestError, match="no earlier assistant message"):
        request_from_openai(
            request(messages=[{"role": "tool", "tool_call_id": "x", "content": ""}])
        )


def test_answering_a_tool_call_twice_says_so() -> None:
    conv = [*tool_conversation(), {"role": "tool", "tool_call_id": "call_1", "content": "again"}]
    with pytest.raises(InvalidRequestError, match="more than once"):
        request_from_openai(request(messages=conv))


GARBAGE: list[Any] = [None, 0, -1, 1.5, float("nan"), True, "", "x", [], [None], {}, {"a": 1}, [{}]]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _rich_request() -> dict[str, Any]:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    return request(
        messages=[*tool_conversation(), *user_parts(image)],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": SCHEMA}},
        stop=["x"],
        metadata={"a": "b"},
    )


def test_garbage_anywhere_raises_only_invalid_request_error_with_a_field() -> None:
    base = _rich_request()
    request_from_openai(base)
    for path in _paths(base):
        for junk in GARBAGE:
            data = copy.deepcopy(base)
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = junk
            try:
                converted = request_from_openai(data)
            except InvalidRequestError as exc:
                assert exc.field is not None, (path, junk)
            else:
                validate_request(converted)  # what conversion accepts, validation accepts


def test_coerce_request_validates_structs() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        coerce_request(ChatRequest(model="m", messages=[], max_tokens=5))
    assert field_of(excinfo) == "messages"


def test_coerce_request_converts_dicts_and_passes_valid_structs_through() -> None:
    req = ChatRequest(model="m", messages=[Message(role="user", content="x")])
    assert coerce_request(req) is req
    assert coerce_request({"model": "m", "messages": [{"role": "user", "content": "x"}]}) == req


def test_coerce_request_refuses_other_types() -> None:
    with pytest.raises(InvalidRequestError):
        coerce_request(["model"])  # type: ignore[arg-type]


# --- responses -----------------------------------------------------------------------------


def test_text_response_to_openai_shape() -> None:
    resp = ChatResponse(
        id="chatcmpl-1",
        model="gpt-4o",
        text="Hello!",
        finish_reason=FinishReason.LENGTH,
        usage=Usage(input_tokens=10, output_tokens=5, cached_input_tokens=4, reasoning_tokens=2),
    )
    assert response_to_openai(resp, created=1700000000) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                "finish_reason": "length",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def test_tool_call_response_has_null_content_and_json_string_arguments() -> None:
    resp = ChatResponse(
        id="r9",
        model="m",
        tool_calls=[
            ToolCall(id="call_a", name="f", arguments={"x": [1, 2]}),
            ToolCall(id=None, name="g"),
        ],
        finish_reason=FinishReason.TOOL_CALLS,
        reasoning="thinking",
    )
    out = response_to_openai(resp)
    message = out["choices"][0]["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "thinking"
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["id"] for c in message["tool_calls"]] == ["call_a", "call_r9_1"]
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"x": [1, 2]}
    assert message["tool_calls"][1]["function"] == {"name": "g", "arguments": "{}"}
    assert isinstance(out["created"], int)
    json.dumps(out)  # plain JSON types only


def test_empty_text_response_has_empty_string_content() -> None:
    out = response_to_openai(ChatResponse(id="r", model="m"), created=0)
    assert out["choices"][0]["message"]["content"] == ""
