"""OpenAI-shaped dicts in, data-model Structs out (and a response back to OpenAI's shape).

Users paste Chat Completions payloads; :func:`request_from_openai` turns one into a validated
:class:`~hubactors._types.ChatRequest`. Every problem raises
:class:`~hubactors.errors.InvalidRequestError` whose ``field`` is the path in the dict the
user passed (``messages[0].content[1].image_url.url``, ``tools[0].function.name``); no
``KeyError``, ``TypeError`` or msgspec error gets out.

Top-level keys the hub has no use for (``seed``, ``user``, ``frequency_penalty``, ...) are
ignored and logged at debug level, or refused with ``strict=True``. Keys whose silent loss
would change the answer are always refused: ``n`` other than 1 (the hub returns one
choice) and the legacy ``functions``/``function_call``. Our own ``msgspec.to_builtins``
shapes (parts tagged by ``kind``, tools without the ``function`` wrapper) are accepted too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec
from loguru import logger

from hubactors._types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    ImagePart,
    Message,
    NamedToolChoice,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from hubactors._validate import (
    DETAILS,
    ToolCallLedger,
    check_base64,
    check_bool,
    check_image_url,
    check_int,
    check_max_tokens,
    check_media_type,
    check_message,
    check_metadata,
    check_number,
    check_part,
    check_schema,
    check_stop,
    check_str,
    check_temperature,
    check_timeout,
    check_tool_choice,
    check_tool_name,
    check_top_p,
    fail,
    validate_request,
)

__all__ = ["coerce_request", "messages_from_openai", "request_from_openai", "response_to_openai"]

# Tuples, not sets: user values may be unhashable (see _validate).
_ROLES = ("system", "developer", "user", "assistant", "tool")
_TEXT_TYPES = ("text", "input_text")
_IMAGE_TYPES = ("image_url", "input_image")
_KNOWN_KEYS = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "response_format", "temperature", "top_p",
        "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options", "metadata",
        "n", "timeout", "deadline", "priority",
    }
)  # fmt: skip
_LEGACY_KEYS = {
    "functions": "legacy functions are not supported; use tools",
    "function_call": "legacy function_call is not supported; use tool_choice",
}


# --- messages ------------------------------------------------------------------------------


def messages_from_openai(messages: Sequence[Mapping[str, Any] | Message]) -> list[Message]:
    """Convert OpenAI-shaped message dicts (and :class:`Message` objects, kept as they are).

    ``developer`` becomes ``system``; image data URLs are split into ``media_type`` and
    base64 ``data``; tool-call ``arguments`` are parsed; a ``tool`` message becomes one
    :class:`ToolResultPart`. Each message is validated on its own; pairing tool results with
    earlier calls is a rule of the whole conversation, checked by :func:`request_from_openai`
    and :func:`~hubactors._validate.validate_request`, so fragments can be converted.
    Raises :class:`InvalidRequestError` naming the offending field.
    """
    return _convert_messages(messages, "messages", None)


def _convert_messages(messages: object, field: str, ledger: ToolCallLedger | None) -> list[Message]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        fail(field, f"must be a list of messages, got {type(messages).__name__}")
    out: list[Message] = []
    for i, item in enumerate(messages):
        where = f"{field}[{i}]"
        if isinstance(item, Message):
            check_message(item, where, ledger)
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(_message(item, where, ledger))
        else:
            fail(where, f"must be a message object, got {type(item).__name__}")
    return out


def _message(data: Mapping[str, Any], field: str, ledger: ToolCallLedger | None) -> Message:
    role = data.get("role")
    if role is None:
        fail(f"{field}.role", "is required")
    if not isinstance(role, str) or role not in _ROLES:
        fail(f"{field}.role", f"unknown role {role!r}")
    name = data.get("name")
    if role == "tool":
        return _tool_message(data, field, ledger)
    if name is not None:
        check_str(name, f"{field}.name")
    if role == "assistant":
        return _assistant_message(data, field, name, ledger)
    model_role = "system" if role == "developer" else role
    content = data.get("content")
    if content is None:
        fail(f"{field}.content", "is required")
    if not isinstance(content, str):
        content = _parts(content, model_role, f"{field}.content", ledger)
    return Message(role=cast(Any, model_role), content=content, name=name)


def _assistant_message(
    data: Mapping[str, Any], field: str, name: str | None, ledger: ToolCallLedger | None
) -> Message:
    if data.get("function_call") is not None:
        fail(f"{field}.function_call", "legacy function_call is not supported; use tool_calls")
    content, calls = data.get("content"), data.get("tool_calls")
    if not isinstance(calls, list | None):
        fail(f"{field}.tool_calls", f"must be a list, got {type(calls).__name__}")
    if not calls:
        if content is None:
            fail(f"{field}.content", "an assistant message needs content or tool_calls")
        if isinstance(content, str):
            return Message(role="assistant", content=content, name=name)
    parts: list[ContentPart]
    if content is None or isinstance(content, str):
        parts = [TextPart(content)] if content else []
    else:
        parts = _parts(content, "assistant", f"{field}.content", ledger)
    for k, call in enumerate(calls or ()):
        parts.append(_tool_call(call, f"{field}.tool_calls[{k}]", ledger))
    return Message(role="assistant", content=parts, name=name)


def _tool_call(call: object, field: str, ledger: ToolCallLedger | None) -> ToolCallPart:
    if not isinstance(call, Mapping):
        fail(field, f"must be a tool call object, got {type(call).__name__}")
    kind = call.get("type", "function")
    if kind != "function":
        fail(f"{field}.type", f"unsupported tool call type {kind!r}")
    call_id = check_str(call.get("id"), f"{field}.id")
    function = call.get("function")
    if not isinstance(function, Mapping):
        fail(f"{field}.function", "must be an object with name and arguments")
    name = check_str(function.get("name"), f"{field}.function.name")
    arguments = _arguments(function.get("arguments"), f"{field}.function.arguments")
    if ledger is not None:
        ledger.call(call_id, f"{field}.id")
    return ToolCallPart(id=call_id, name=name, arguments=arguments)


def _arguments(raw: object, field: str) -> dict[str, Any]:
    """Parse a JSON-string argument object; blank means no arguments (some hosts send "")."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    raw = check_str(raw, field, empty=True)
    if not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        fail(field, f"is not valid JSON ({exc})")
    if not isinstance(value, dict):
        fail(field, f"must encode a JSON object, got {type(value).__name__}")
    return value


def _tool_message(data: Mapping[str, Any], field: str, ledger: ToolCallLedger | None) -> Message:
    call_id, content, name = data.get("tool_call_id"), data.get("content"), data.get("name")
    if name is not None:
        check_str(name, f"{field}.name")
    if call_id is None and _is_native(content):
        # Our own shape: the results are already ToolResultParts (and the list is non-empty).
        return Message(
            role="tool", content=_parts(content, "tool", f"{field}.content", ledger), name=name
        )
    call_id = check_str(call_id, f"{field}.tool_call_id")
    text = _tool_text(content, f"{field}.content")
    if ledger is not None:
        ledger.answer(call_id, f"{field}.tool_call_id")
    return Message(
        role="tool", content=[ToolResultPart(tool_call_id=call_id, content=text, name=name)]
    )


def _tool_text(content: object, field: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        fail(field, "must be a string or a list of text parts")
    texts: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, Mapping) or part.get("type") not in _TEXT_TYPES:
            fail(f"{field}[{j}]", "tool results may only contain text parts")
        texts.append(check_str(part.get("text"), f"{field}[{j}].text", empty=True))
    return "".join(texts)


def _is_native(content: object) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(p, Mapping) and "kind" in p and "type" not in p for p in content)
    )


# --- content parts -------------------------------------------------------------------------


def _parts(
    content: object, role: str, field: str, ledger: ToolCallLedger | None
) -> list[ContentPart]:
    if not isinstance(content, list):
        fail(field, f"must be a string or a list of parts, got {type(content).__name__}")
    parts: list[ContentPart] = []
    for j, raw in enumerate(content):
        where = f"{field}[{j}]"
        if not isinstance(raw, Mapping):
            fail(where, f"must be a content part object, got {type(raw).__name__}")
        if "type" not in raw and "kind" in raw:
            part = _native_part(raw, role, where)
            if ledger is not None and isinstance(part, ToolCallPart):
                ledger.call(part.id, f"{where}.id")
            elif ledger is not None and isinstance(part, ToolResultPart):
                ledger.answer(part.tool_call_id, f"{where}.tool_call_id")
        else:
            part = _openai_part(raw, role, where)
        parts.append(part)
    return parts


def _native_part(raw: Mapping[str, Any], role: str, field: str) -> ContentPart:
    try:
        part: ContentPart = msgspec.convert(raw, ContentPart)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.text`": keep the reason, graft its path onto ours.
        reason, _, where = str(exc).partition(" - at `$")
        fail(field + where.rstrip("`"), reason)
    check_part(part, role, field)
    return part


def _openai_part(raw: Mapping[str, Any], role: str, field: str) -> ContentPart:
    kind = raw.get("type")
    if kind in _TEXT_TYPES and role != "tool":
        return TextPart(check_str(raw.get("text"), f"{field}.text", empty=True))
    if kind == "refusal" and role == "assistant":
        return TextPart(check_str(raw.get("refusal"), f"{field}.refusal", empty=True))
    if kind in _IMAGE_TYPES:
        if role != "user":
            fail(f"{field}.type", f"images are only allowed in user messages, not {role}")
        return _image_part(raw, field)
    fail(f"{field}.type", f"unsupported content part type {kind!r} in a {role} message")


def _image_part(raw: Mapping[str, Any], field: str) -> ImagePart:
    image = raw.get("image_url")
    if isinstance(image, Mapping):  # Chat Completions: {"image_url": {"url", "detail"}}
        url, detail = image.get("url"), image.get("detail")
        url_field, detail_field = f"{field}.image_url.url", f"{field}.image_url.detail"
    else:  # Responses API input_image (and lenient image_url): {"image_url": "...", "detail"}
        url, detail = image, raw.get("detail")
        url_field, detail_field = f"{field}.image_url", f"{field}.detail"
        if url is None and raw.get("file_id") is not None:
            fail(f"{field}.file_id", "file ids are not supported; pass image_url")
    if detail is not None and detail not in DETAILS:
        fail(detail_field, f"must be one of auto, low, high, got {detail!r}")
    url = check_str(url, url_field)
    if url[:5].lower() == "data:":
        media_type, data = _split_data_url(url, url_field)
        return ImagePart(data=data, media_type=media_type, detail=detail)
    return ImagePart(url=check_image_url(url, url_field), detail=detail)


def _split_data_url(url: str, field: str) -> tuple[str, str]:
    """``data:image/png;base64,AAAA`` -> ``("image/png", "AAAA")``, both checked."""
    header, comma, data = url[5:].partition(",")
    if not comma:
        fail(field, "malformed data: URL (no comma before the data)")
    media_type, *params = (p.strip().lower() for p in header.split(";"))
    if "base64" not in params:
        fail(field, "data: URLs must be base64-encoded (data:image/png;base64,...)")
    check_media_type(media_type, field)
    check_base64(data, field)
    return media_type, data


# --- the request ---------------------------------------------------------------------------


def request_from_openai(data: Mapping[str, Any], *, strict: bool = False) -> ChatRequest:
    """Convert an OpenAI-shaped chat completion request into a validated :class:`ChatRequest`.

    Beside OpenAI's keys it reads ``timeout``, ``deadline`` and ``priority``. Unknown keys
    are ignored (logged at debug level) unless ``strict``, which refuses them. Raises
    :class:`InvalidRequestError` naming the offending field.
    """
    if not isinstance(data, Mapping):
        fail(None, f"a request must be an object, got {type(data).__name__}")
    _check_keys(data, strict)
    model = check_str(data.get("model"), "model")
    if data.get("messages") is None:
        fail("messages", "is required")
    messages = _convert_messages(data["messages"], "messages", ToolCallLedger())
    if not messages:
        fail("messages", "must not be empty")
    tools = _tools(data.get("tools"))
    n = check_int(data.get("n"), "n")
    if n is not None and n != 1:
        fail("n", f"only n=1 is supported (the hub returns one choice), got {n}")
    return ChatRequest(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(data.get("tool_choice"), {t.name for t in tools}),
        response_format=_response_format(data.get("response_format")),
        temperature=check_temperature(data.get("temperature")),
        top_p=check_top_p(data.get("top_p")),
        max_tokens=_max_tokens(data),
        stop=_stop(data.get("stop")),
        stream=check_bool(data.get("stream"), "stream"),
        metadata=_metadata(data.get("metadata")),
        timeout=check_timeout(data.get("timeout")),
        deadline=check_number(data.get("deadline"), "deadline"),
        priority=check_int(data.get("priority"), "priority") or 0,
    )


def coerce_request(
    request: ChatRequest | Mapping[str, Any], *, strict: bool = False
) -> ChatRequest:
    """A validated :class:`ChatRequest` from one, or from an OpenAI-shaped dict.

    Raises :class:`InvalidRequestError` naming the offending field.
    """
    if isinstance(request, ChatRequest):
        validate_request(request)
        return request
    if isinstance(request, Mapping):
        return request_from_openai(request, strict=strict)
    fail(None, f"expected a ChatRequest or a mapping, got {type(request).__name__}")


def _check_keys(data: Mapping[str, Any], strict: bool) -> None:
    for key, reason in _LEGACY_KEYS.items():
        if data.get(key) is not None:
            fail(key, reason)
    unknown = [key for key in data if key not in _KNOWN_KEYS]
    if unknown and strict:
        fail(str(unknown[0]), "unsupported parameter")
    if unknown:
        logger.debug("request_from_openai ignored parameters: {}", unknown)


def _metadata(value: object) -> dict[str, str]:
    return {} if value is None else check_metadata(value)


def _max_tokens(data: Mapping[str, Any]) -> int | None:
    legacy = check_max_tokens(data.get("max_tokens"), "max_tokens")
    current = check_max_tokens(data.get("max_completion_tokens"), "max_completion_tokens")
    if legacy is not None and current is not None and legacy != current:
        fail("max_completion_tokens", f"is {current} but max_tokens is {legacy}; pass one")
    return current if current is not None else legacy


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [check_str(value, "stop")]
    return check_stop(list(value) if isinstance(value, tuple) else value)


def _tools(raw: object) -> list[Tool]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        fail("tools", f"must be a list, got {type(raw).__name__}")
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        tool, name_field = _tool(item, f"tools[{i}]")
        if tool.name in seen:
            fail(name_field, f"duplicate tool name {tool.name!r}")
        seen.add(tool.name)
        tools.append(tool)
    return tools


def _tool(item: object, field: str) -> tuple[Tool, str]:
    if not isinstance(item, Mapping):
        fail(field, f"must be a tool object, got {type(item).__name__}")
    function, prefix = _function_spec(item, field, "tools")
    kwargs: dict[str, Any] = {"name": check_tool_name(function.get("name"), f"{prefix}.name")}
    if function.get("description") is not None:
        kwargs["description"] = check_str(
            function["description"], f"{prefix}.description", empty=True
        )
    if function.get("parameters") is not None:
        kwargs["parameters"] = check_schema(function["parameters"], f"{prefix}.parameters")
    if function.get("strict") is not None:
        kwargs["strict"] = check_bool(function["strict"], f"{prefix}.strict")
    return Tool(**kwargs), f"{prefix}.name"


def _tool_choice(raw: object, names: set[str]) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        check_tool_choice(raw, names, "tool_choice", "tool_choice")
        return cast(ToolChoice, raw)
    if not isinstance(raw, Mapping):
        fail("tool_choice", f"must be a string or an object, got {type(raw).__name__}")
    function, prefix = _function_spec(raw, "tool_choice", "tool choices")
    choice = NamedToolChoice(check_str(function.get("name"), f"{prefix}.name"))
    check_tool_choice(choice, names, "tool_choice", f"{prefix}.name")
    return choice


def _function_spec(item: Mapping[str, Any], field: str, what: str) -> tuple[Mapping[str, Any], str]:
    """The function object of OpenAI's ``{"type": "function", "function": {...}}`` and its
    path; our own shape has no wrapper, so that is ``item`` itself."""
    if "function" not in item and "type" not in item:
        return item, field
    if item.get("type", "function") != "function":
        fail(f"{field}.type", f"only function {what} are supported, got {item.get('type')!r}")
    function = item.get("function")
    if not isinstance(function, Mapping):
        fail(f"{field}.function", "must be an object with a name")
    return function, f"{field}.function"


def _response_format(raw: object) -> ResponseFormat | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        fail("response_format", f"must be an object, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        fail("response_format.type", f"must be text, json_object or json_schema, got {kind!r}")
    spec = raw.get("json_schema")
    if isinstance(spec, Mapping) and ("schema" in spec or "name" in spec):
        # OpenAI nests name/schema/strict, and its strict defaults to false.
        prefix, schema, strict = "response_format.json_schema", spec.get("schema"), False
        name, schema_field = spec.get("name"), "response_format.json_schema.schema"
        strict_value = spec.get("strict")
    else:  # ours: json_schema is the schema itself; name and strict sit beside it
        prefix, schema, strict = "response_format", spec, True
        name, schema_field = raw.get("name", "response"), "response_format.json_schema"
        strict_value = raw.get("strict")
    if not isinstance(schema, dict):
        fail(schema_field, "a json_schema response format needs a schema object")
    return ResponseFormat(
        type="json_schema",
        name=check_tool_name(name, f"{prefix}.name"),
        json_schema=schema,
        strict=check_bool(strict_value, f"{prefix}.strict", strict),
    )


# --- the response --------------------------------------------------------------------------


def response_to_openai(response: ChatResponse, *, created: int | None = None) -> dict[str, Any]:
    """``response`` as an OpenAI ``chat.completion`` dict with one choice.

    ``created`` defaults to now (Unix seconds). Tool calls without an id get one derived
    from the response id; reasoning, when present, travels as ``reasoning_content`` (the
    key DeepSeek and vLLM use). Finish reasons map by value (``error`` is passed through).
    """
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.text if response.text or not response.tool_calls else None,
        "refusal": None,
    }
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{response.id}_{i}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": msgspec.json.encode(call.arguments).decode(),
                },
            }
            for i, call in enumerate(response.tool_calls)
        ]
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    usage = response.usage
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": str(response.finish_reason),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        },
    }
