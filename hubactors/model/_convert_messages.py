"""OpenAI-shaped messages in, :class:`~hubactors.model._types.Message` Structs out.

Each message is converted and validated on its own; every problem raises
:class:`~hubactors.errors.InvalidRequestError` whose ``field`` is the path in what the user
passed (``messages[0].content[1].image_url.url``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec

from hubactors.model._types import (
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.model._validate import (
    DETAILS,
    ToolCallLedger,
    check_base64,
    check_image_url,
    check_media_type,
    check_message,
    check_part,
    check_str,
    fail,
)

__all__ = ["convert_messages", "messages_from_openai"]

# Tuples, not sets: user values may be unhashable (see _validate).
_ROLES = ("system", "developer", "user", "assistant", "tool")
_TEXT_TYPES = ("text", "input_text")
_IMAGE_TYPES = ("image_url", "input_image")


def messages_from_openai(messages: Sequence[Mapping[str, Any] | Message]) -> list[Message]:
    """Convert OpenAI-shaped message dicts (and :class:`Message` objects, kept as they are).

    ``developer`` becomes ``system``; image data URLs are split into ``media_type`` and
    base64 ``data``; tool-call ``arguments`` are parsed; a ``tool`` message becomes one
    :class:`ToolResultPart`. Each message is validated on its own; pairing tool results with
    earlier calls is a rule of the whole conversation, checked by :func:`request_from_openai`
    and :func:`~hubactors.model._validate.validate_request`, so fragments can be converted.
    Raises :class:`InvalidRequestError` naming the offending field.
    """
    return convert_messages(messages, "messages", None)


def convert_messages(messages: object, field: str, ledger: ToolCallLedger | None) -> list[Message]:
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
        media_type, data = split_data_url(url, url_field)
        return ImagePart(data=data, media_type=media_type, detail=detail)
    return ImagePart(url=check_image_url(url, url_field), detail=detail)


def split_data_url(url: str, field: str) -> tuple[str, str]:
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
