"""validate_request on requests built from the data model: every rule, with its field path."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hubactors.errors import InvalidRequestError
from hubactors.model._types import (
    ChatRequest,
    ImagePart,
    Message,
    NamedToolChoice,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.model._validate import validate_messages, validate_request

PNG = base64.b64encode(b"\x89PNG fake").decode()
USER = Message(role="user", content="hi")


def make(**overrides: Any) -> ChatRequest:
    fields: dict[str, Any] = {"model": "route", "messages": [USER]}
    fields.update(overrides)
    return ChatRequest(**fields)


def user_image(**image: Any) -> list[Message]:
    return [Message(role="user", content=[TextPart("see"), ImagePart(**image)])]


def calls(*ids: str | None) -> Message:
    return Message(
        role="assistant", content=[ToolCallPart(id=i, name="lookup", arguments={}) for i in ids]
    )


def result(call_id: str) -> Message:
    return Message(role="tool", content=[ToolResultPart(tool_call_id=call_id, content="ok")])


def field_of(request: ChatRequest) -> str | None:
    with pytest.raises(InvalidRequestError) as excinfo:
        validate_request(request)
    return excinfo.value.field


def test_a_complete_valid_request_passes() -> None:
    validate_request(
        make(
            messages=[
                Message(role="system", content="sys"),
                Message(role="user", content=[TextPart("a"), ImagePart(url="https://x.test/i")]),
                calls("c1", "c2"),
                result("c1"),
                result("c2"),
                Message(role="assistant", content="done"),
            ],
            tools=[Tool(name="lookup"), Tool(name="other-tool_2", parameters={})],
            tool_choice=NamedToolChoice("lookup"),
            response_format=ResponseFormat(json_schema={"type": "object"}),
            temperature=0.0,
            top_p=1.0,
            max_tokens=1,
            stop=["a", "b", "c", "d", "e", "f"],  # no provider limit on the count
            metadata={"k": "v"},
            timeout=0.5,
            deadline=10.0,
            priority=-3,
        )
    )


def test_boundaries_of_sampling_ranges_pass() -> None:
    for temperature in (0, 2, 1.3):
        validate_request(make(temperature=temperature))
    for top_p in (1e-9, 1):
        validate_request(make(top_p=top_p))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": (USER,)}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": 2.0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": "0.5"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"stop": ["x", ""]}, "stop[1]"),
        ({"stop": "x"}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"metadata": {1: "v"}}, "metadata"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -2.0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"deadline": "later"}, "deadline"),
        ({"priority": 0.5}, "priority"),
        ({"tools": [Tool(name="bad name")]}, "tools[0].name"),
        ({"tools": [Tool(name="")]}, "tools[0].name"),
        ({"tools": [Tool(name="x" * 65)]}, "tools[0].name"),
        ({"tools": [Tool(name="ok\n")]}, "tools[0].name"),
        ({"tools": [Tool(name="a"), Tool(name="b"), Tool(name="a")]}, "tools[2].name"),
        ({"tools": [Tool(name="a", parameters={"type": "string"})]}, "tools[0].parameters"),
        ({"tools": [Tool(name="a", description=3)]}, "tools[0].description"),  # type: ignore[arg-type]
        ({"tools": [{"name": "a"}]}, "tools[0]"),
        ({"tools": [Tool(name="a")], "tool_choice": NamedToolChoice("b")}, "tool_choice.name"),
        ({"tool_choice": NamedToolChoice("a")}, "tool_choice.name"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": ResponseFormat()}, "response_format.json_schema"),
        (
            {"response_format": ResponseFormat(name="my schema", json_schema={})},
            "response_format.name",
        ),
        ({"response_format": ResponseFormat(type="yaml")}, "response_format.type"),  # type: ignore[arg-type]
        ({"response_format": {"type": "text"}}, "response_format"),
    ],
)
def test_invalid_options_name_the_field(overrides: dict[str, Any], field: str) -> None:
    assert field_of(make(**overrides)) == field


def test_text_and_json_object_formats_need_no_schema() -> None:
    validate_request(make(response_format=ResponseFormat(type="text")))
    validate_request(make(response_format=ResponseFormat(type="json_object")))


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([Message(role="function", content="x")], "messages[0].role"),  # type: ignore[arg-type]
        (["hi"], "messages[0]"),
        ([Message(role="user", content=3)], "messages[0].content"),  # type: ignore[arg-type]
        ([Message(role="user", content="x", name="")], "messages[0].name"),
        ([Message(role="user", content=[TextPart(5)])], "messages[0].content[0].text"),  # type: ignore[arg-type]
        ([Message(role="user", content=["text"])], "messages[0].content[0]"),  # type: ignore[list-item]
        ([Message(role="tool", content="42")], "messages[0].content"),
        ([Message(role="tool", content=[])], "messages[0].content"),
        (
            [Message(role="system", content=[ImagePart(url="https://x.test/a")])],
            "messages[0].content[0]",
        ),
        ([Message(role="tool", content=[TextPart("x")])], "messages[0].content[0]"),
        (
            [Message(role="assistant", content=[ToolCallPart(id="c", name="")])],
            "messages[0].content[0].name",
        ),
        (
            [Message(role="assistant", content=[ToolCallPart(id="", name="f")])],
            "messages[0].content[0].id",
        ),
        (
            [Message(role="assistant", content=[ToolCallPart(id="c", name="f", arguments=[])])],  # type: ignore[arg-type]
            "messages[0].content[0].arguments",
        ),
    ],
)
def test_malformed_messages_name_the_field(messages: list[Any], field: str) -> None:
    assert field_of(make(messages=messages)) == field


@pytest.mark.parametrize(
    ("image", "field", "reason"),
    [
        (
            {"url": "https://x.test/a.png", "data": PNG, "media_type": "image/png"},
            "",
            "exactly one",
        ),
        ({}, "", "exactly one"),
        ({"data": "not base64!", "media_type": "image/png"}, ".data", "base64"),
        ({"data": "QUI", "media_type": "image/png"}, ".data", "base64"),
        ({"data": "", "media_type": "image/png"}, ".data", "empty"),
        ({"data": PNG, "media_type": "application/pdf"}, ".media_type", "image media type"),
        ({"data": PNG, "media_type": "image/"}, ".media_type", "image media type"),
        ({"data": PNG}, ".media_type", "string"),
        ({"url": "ftp://x.test/a.png"}, ".url", "http(s)"),
        ({"url": "file:///etc/passwd"}, ".url", "http(s)"),
        ({"url": "x.test/a.png"}, ".url", "http(s)"),
        ({"url": f"data:image/png;base64,{PNG}"}, ".url", "data and media_type"),
        ({"url": "https://x.test/a.png", "detail": "max"}, ".detail", "auto"),
    ],
)
def test_malformed_images_name_the_field(image: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        validate_request(make(messages=user_image(**image)))
    assert excinfo.value.field == f"messages[0].content[1]{field}"
    assert reason in str(excinfo.value)


def test_valid_images_pass() -> None:
    validate_request(make(messages=user_image(url="HTTPS://x.test/a.png", detail="high")))
    validate_request(make(messages=user_image(data=PNG, media_type="image/webp")))


# --- tool calls and results ----------------------------------------------------------------


def test_tool_result_without_a_matching_call_is_refused() -> None:
    req = make(messages=[USER, calls("c1"), result("c2")])
    assert field_of(req) == "messages[2].content[0].tool_call_id"


def test_tool_result_before_its_call_is_refused() -> None:
    req = make(messages=[USER, result("c1"), calls("c1")])
    assert field_of(req) == "messages[1].content[0].tool_call_id"


def test_answering_a_tool_call_twice_is_refused() -> None:
    req = make(messages=[USER, calls("c1"), result("c1"), result("c1")])
    with pytest.raises(InvalidRequestError, match="more than once") as excinfo:
        validate_request(req)
    assert excinfo.value.field == "messages[3].content[0].tool_call_id"


def test_a_call_id_reused_while_still_open_is_refused() -> None:
    req = make(messages=[USER, calls("c1", "c1")])
    assert field_of(req) == "messages[1].content[1].id"


def test_a_call_id_may_be_reused_once_answered() -> None:
    validate_request(make(messages=[USER, calls("c1"), result("c1"), calls("c1"), result("c1")]))


def test_calls_without_ids_are_answered_in_turn() -> None:
    validate_request(make(messages=[USER, calls(None, None), result("a"), result("b")]))
    assert field_of(make(messages=[USER, calls(None), result("a"), result("b")])) == (
        "messages[3].content[0].tool_call_id"
    )


def test_unanswered_tool_calls_are_left_to_the_provider() -> None:
    validate_request(make(messages=[USER, calls("c1")]))


def test_one_tool_message_may_carry_several_results() -> None:
    both = Message(
        role="tool",
        content=[
            ToolResultPart(tool_call_id="c1", content="1"),
            ToolResultPart(tool_call_id="c2", content="2", is_error=True),
        ],
    )
    validate_request(make(messages=[USER, calls("c1", "c2"), both]))


def test_tool_results_may_ride_in_a_user_message_and_are_paired() -> None:
    answer = Message(
        role="user",
        content=[ToolResultPart(tool_call_id="c1", content="1"), TextPart("and now?")],
    )
    validate_request(make(messages=[USER, calls("c1"), answer]))
    assert field_of(make(messages=[USER, calls("c2"), answer])) == (
        "messages[2].content[0].tool_call_id"
    )


def test_validate_messages_uses_the_given_field_prefix() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        validate_messages([USER, result("x")], field="history")
    assert excinfo.value.field == "history[1].content[0].tool_call_id"


def test_validate_request_refuses_other_types() -> None:
    with pytest.raises(InvalidRequestError):
        validate_request({"model": "m"})  # type: ignore[arg-type]
