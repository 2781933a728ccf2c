"""Validation of requests built from the data model.

:func:`validate_request` runs on every request, so it is one pass over the request with no
per-call regex compilation. Every problem raises :class:`~hubactors.errors.InvalidRequestError`
whose ``field`` is the path of the offending value in the model (``messages[2].role``,
``tools[0].name``).

The ``check_*`` helpers hold each rule once; the OpenAI converter calls them with the paths
of the dict it is reading, so users see the path of what they actually passed.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import msgspec

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

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Tuples, not sets: membership of an unhashable value (a list where a string belongs) must be
# False, not a TypeError.
ROLES = ("system", "user", "assistant", "tool")
DETAILS = ("auto", "low", "high")
TOOL_CHOICES = ("auto", "none", "required")
RESPONSE_FORMAT_TYPES = ("text", "json_object", "json_schema")
_PART_KINDS: dict[str, tuple[type, ...]] = {
    "system": (TextPart,),
    # Anthropic-style: tool results may ride in a user turn (every codec accepts that).
    "user": (TextPart, ImagePart, ToolResultPart),
    "assistant": (TextPart, ToolCallPart),
    "tool": (ToolResultPart,),
}


def fail(field: str | None, message: str) -> NoReturn:
    """Raise :class:`InvalidRequestError` for ``field``."""
    raise InvalidRequestError(message, field=field)


# --- scalar rules --------------------------------------------------------------------------


def check_str(value: object, field: str, *, empty: bool = False) -> str:
    """``value`` as a string; fails if it is not one, or is empty unless ``empty``."""
    if not isinstance(value, str):
        fail(field, f"must be a string, got {type(value).__name__}")
    if not empty and not value:
        fail(field, "must not be empty")
    return value


def check_bool(value: object, field: str, default: bool = False) -> bool:
    """``value`` as a boolean; ``None`` means ``default``."""
    if value is None:
        return default
    if not isinstance(value, bool):
        fail(field, f"must be a boolean, got {type(value).__name__}")
    return value


def check_number(value: object, field: str) -> float | None:
    """``value`` as a finite number (``None`` passes); booleans are not numbers."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(field, f"must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        fail(field, "must be finite")
    return float(value)


def check_int(value: object, field: str) -> int | None:
    """``value`` as an integer (``None`` passes); booleans and floats are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field, f"must be an integer, got {type(value).__name__}")
    return value


def check_max_tokens(value: object, field: str = "max_tokens") -> int | None:
    out = check_int(value, field)
    if out is not None and out <= 0:
        fail(field, f"must be positive, got {out}")
    return out


def check_temperature(value: object, field: str = "temperature") -> float | None:
    out = check_number(value, field)
    if out is not None and not 0.0 <= out <= 2.0:
        fail(field, f"must be between 0 and 2, got {out}")
    return out


def check_top_p(value: object, field: str = "top_p") -> float | None:
    out = check_number(value, field)
    if out is not None and not 0.0 < out <= 1.0:
        fail(field, f"must be in (0, 1], got {out}")
    return out


def check_timeout(value: object, field: str = "timeout") -> float | None:
    out = check_number(value, field)
    if out is not None and out <= 0:
        fail(field, f"must be positive, got {out}")
    return out


def check_stop(value: object, field: str = "stop") -> list[str]:
    """A list of non-empty stop strings (no count limit: that is a provider's business)."""
    if not isinstance(value, list):
        fail(field, f"must be a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        check_str(item, f"{field}[{i}]")
    return value


def check_metadata(value: object, field: str = "metadata") -> dict[str, str]:
    if not isinstance(value, Mapping):
        fail(field, f"must be an object of strings, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            fail(field, f"keys must be strings, got {type(key).__name__}")
        check_str(item, f"{field}.{key}", empty=True)
    return dict(value)


def check_tool_name(value: object, field: str) -> str:
    name = check_str(value, field)
    if _NAME.fullmatch(name) is None:
        fail(field, f"must be 1-64 letters, digits, '_' or '-', got {name!r}")
    return name


def check_schema(value: object, field: str) -> dict[str, Any]:
    """A JSON schema for an object: a dict whose ``type``, when given, is ``"object"``."""
    if not isinstance(value, dict):
        fail(field, f"must be a JSON schema object, got {type(value).__name__}")
    if value.get("type", "object") != "object":
        fail(field, f"must describe an object, got type {value.get('type')!r}")
    return value


# --- images --------------------------------------------------------------------------------


def check_image_url(url: object, field: str) -> str:
    """An absolute ``http``/``https`` URL (inline images go in ``data``, not a data: URL)."""
    url = check_str(url, field)
    scheme, _, _ = url.partition(":")
    if scheme.lower() == "data":
        fail(field, "a data: URL belongs in data and media_type, not url")
    if scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
        fail(field, "must be an http(s) URL")
    return url


def check_media_type(value: object, field: str) -> str:
    media_type = check_str(value, field)
    if not media_type.lower().startswith("image/") or len(media_type) <= len("image/"):
        fail(field, f"must be an image media type, got {media_type!r}")
    return media_type


def check_base64(value: object, field: str) -> str:
    """Standard, padded base64 (checked by decoding in C: O(n), no regex)."""
    data = check_str(value, field)
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error as exc:
        fail(field, f"is not valid base64 ({exc})")
    return data


def check_image(part: ImagePart, field: str) -> None:
    if (part.url is None) == (part.data is None):
        fail(field, "an image needs exactly one of url and data")
    if part.url is not None:
        check_image_url(part.url, f"{field}.url")
    else:
        check_base64(part.data, f"{field}.data")
        check_media_type(part.media_type, f"{field}.media_type")
    if part.detail is not None and part.detail not in DETAILS:
        fail(f"{field}.detail", f"must be one of auto, low, high, got {part.detail!r}")


# --- messages ------------------------------------------------------------------------------


class ToolCallLedger:
    """Pairs tool results with the calls made before them, in conversation order.

    A result must answer a call that is still open; answering one twice is refused. Call
    ids may be reused once answered (some OpenAI-compatible hosts number calls per turn).
    Calls without an id (Gemini) are answered by any result that matches no open id.
    """

    __slots__ = ("_anonymous", "_answered", "_open")

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._answered: set[str] = set()
        self._anonymous = 0

    def call(self, call_id: str | None, field: str) -> None:
        if call_id is None:
            self._anonymous += 1
            return
        if call_id in self._open:
            fail(field, f"tool call id {call_id!r} is already used by an unanswered call")
        self._open.add(call_id)
        self._answered.discard(call_id)

    def answer(self, call_id: str, field: str) -> None:
        if call_id in self._open:
            self._open.remove(call_id)
            self._answered.add(call_id)
        elif call_id in self._answered:
            fail(field, f"tool call {call_id!r} is answered more than once")
        elif self._anonymous:
            self._anonymous -= 1
        else:
            fail(field, f"no earlier assistant message made a tool call with id {call_id!r}")


def check_part(part: object, role: str, field: str) -> None:
    """One content part: a model part allowed in a message of ``role``, with valid fields."""
    allowed = _PART_KINDS[role]
    if not isinstance(part, allowed):
        names = ", ".join(t.__name__ for t in allowed)
        fail(field, f"a {role} message may only hold {names}, got {type(part).__name__}")
    if isinstance(part, TextPart):
        check_str(part.text, f"{field}.text", empty=True)
    elif isinstance(part, ImagePart):
        check_image(part, field)
    elif isinstance(part, ToolCallPart):
        if part.id is not None:
            check_str(part.id, f"{field}.id")
        check_str(part.name, f"{field}.name")
        if not isinstance(part.arguments, dict):
            fail(f"{field}.arguments", "must be a JSON object")
    elif isinstance(part, ToolResultPart):
        check_str(part.tool_call_id, f"{field}.tool_call_id")
        check_str(part.content, f"{field}.content", empty=True)


def check_message(message: object, field: str, ledger: ToolCallLedger | None = None) -> None:
    """One model message; with a ``ledger``, its tool calls and results are paired too."""
    if not isinstance(message, Message):
        fail(field, f"must be a Message, got {type(message).__name__}")
    role = message.role
    if role not in ROLES:
        fail(f"{field}.role", f"unknown role {role!r}")
    if message.name is not None:
        check_str(message.name, f"{field}.name")
    content = message.content
    if isinstance(content, str):
        if role == "tool":
            fail(f"{field}.content", "a tool message holds ToolResultPart content")
        return
    if not isinstance(content, list):
        fail(f"{field}.content", f"must be a string or a list, got {type(content).__name__}")
    if role == "tool" and not content:
        fail(f"{field}.content", "a tool message needs at least one ToolResultPart")
    for j, part in enumerate(content):
        where = f"{field}.content[{j}]"
        check_part(part, role, where)
        if ledger is None:
            continue
        if isinstance(part, ToolCallPart):
            ledger.call(part.id, f"{where}.id")
        elif isinstance(part, ToolResultPart):
            ledger.answer(part.tool_call_id, f"{where}.tool_call_id")


def validate_messages(messages: object, field: str = "messages") -> None:
    """A non-empty conversation whose tool results answer earlier tool calls."""
    if not isinstance(messages, list):
        fail(field, f"must be a list of messages, got {type(messages).__name__}")
    if not messages:
        fail(field, "must not be empty")
    ledger = ToolCallLedger()
    for i, message in enumerate(messages):
        check_message(message, f"{field}[{i}]", ledger)


# --- the request ---------------------------------------------------------------------------


def _check_tools(tools: object) -> set[str]:
    if not isinstance(tools, list):
        fail("tools", f"must be a list, got {type(tools).__name__}")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, Tool):
            fail(f"tools[{i}]", f"must be a Tool, got {type(tool).__name__}")
        name = check_tool_name(tool.name, f"tools[{i}].name")
        if name in names:
            fail(f"tools[{i}].name", f"duplicate tool name {name!r}")
        names.add(name)
        if tool.description is not None:
            check_str(tool.description, f"tools[{i}].description", empty=True)
        check_schema(tool.parameters, f"tools[{i}].parameters")
    return names


def check_tool_choice(choice: object, tool_names: set[str], field: str, name_field: str) -> None:
    """``choice`` is a known mode or names one of ``tool_names``; forcing needs tools."""
    if choice is None:
        return
    if isinstance(choice, NamedToolChoice):
        if choice.name not in tool_names:
            fail(name_field, f"names tool {choice.name!r}, which is not in tools")
    elif choice not in TOOL_CHOICES:
        fail(field, f"must be auto, none, required or a named tool, got {choice!r}")
    elif choice == "required" and not tool_names:
        fail(field, "is 'required' but the request has no tools")


def _check_response_format(fmt: object) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, ResponseFormat):
        fail("response_format", f"must be a ResponseFormat, got {type(fmt).__name__}")
    if fmt.type not in RESPONSE_FORMAT_TYPES:
        fail("response_format.type", f"unknown response format type {fmt.type!r}")
    if fmt.type == "json_schema":
        check_tool_name(fmt.name, "response_format.name")
        if not isinstance(fmt.json_schema, dict):
            fail("response_format.json_schema", "a json_schema format needs a schema object")


def validate_request(request: ChatRequest) -> None:
    """Check ``request`` against every rule; raise :class:`InvalidRequestError` on the first.

    Pure and synchronous: nothing to cancel. Provider-specific limits (stop count, context
    size) are left to the provider.
    """
    if not isinstance(request, ChatRequest):
        fail(None, f"expected a ChatRequest, got {type(request).__name__}")
    check_str(request.model, "model")
    validate_messages(request.messages)
    names = _check_tools(request.tools)
    check_tool_choice(request.tool_choice, names, "tool_choice", "tool_choice.name")
    _check_response_format(request.response_format)
    check_temperature(request.temperature)
    check_top_p(request.top_p)
    check_max_tokens(request.max_tokens)
    check_stop(request.stop)
    check_bool(request.stream, "stream")
    check_metadata(request.metadata)
    check_timeout(request.timeout)
    check_number(request.deadline, "deadline")
    check_int(request.priority, "priority")
    check_encodable(request)


def check_encodable(request: ChatRequest) -> None:
    """Fail unless ``request`` encodes as JSON (UTF-8 text, JSON-shaped values), naming the
    first field that does not: every codec encodes what it is given, so whatever cannot be
    encoded is the caller's error here, before anything is chosen or sent."""
    try:
        _JSON.encode(request)
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError) as exc:
        field, reason = _unencodable(request, "") or (None, str(exc))
        fail(field or None, f"cannot be encoded as JSON: {reason}")


_JSON = msgspec.json.Encoder()


def _unencodable(value: object, path: str) -> tuple[str, str] | None:
    """The path of the first value in ``value`` that JSON cannot carry, and why."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return path, f"{exc.reason} ({value[exc.start : exc.end]!r} at {exc.start})"
        return None
    if isinstance(value, bool | int | float | None):
        try:
            _JSON.encode(value)
        except (OverflowError, ValueError) as exc:
            return path, str(exc)
        return None
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            found = _unencodable(getattr(value, name), f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float):
                return path, f"a key of type {type(key).__name__}"
            # The path is shown to people: an unencodable key must not make it unprintable.
            shown = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
            found = _unencodable(key, f"{path}[{shown!r}]") or _unencodable(item, f"{path}.{shown}")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unencodable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    try:
        _JSON.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        return path, str(exc)
    return None
