"""The Anthropic Messages dialect: ``/v1/messages`` bodies in, messages and events out.

Pure translation, no I/O. A request becomes the hub's own dict shape (parts tagged by
``kind``) and is validated by the hub's converter; Anthropic's ``tool_result`` blocks,
which ride in user turns, become tool messages. The stream is Anthropic's event sequence:
``message_start``, per block ``content_block_start`` / ``content_block_delta`` /
``content_block_stop``, then ``message_delta`` and ``message_stop``; a failure after the
first event is an ``error`` event and no ``message_stop`` follows.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from hubactors import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    InvalidRequestError,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallComplete,
    Usage,
    UsageEvent,
    coerce_request,
)
from hubactors.server._errors import http_status, wire_error
from hubactors.server._openai import sse

_json = msgspec.json.Encoder()

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}
_STOP_REASONS = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
    FinishReason.ERROR: "end_turn",
}
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _fail(field: str | None, message: str) -> InvalidRequestError:
    return InvalidRequestError(message, field=field)


# --- requests ------------------------------------------------------------------------------


def _text_of(value: object, field: str) -> str:
    """A string, or a list of text blocks (as ``system`` and tool results may be)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _fail(field, "must be a string or a list of text blocks")
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _fail(f"{field}[{i}]", "only text blocks are supported here")
        text = block.get("text")
        if not isinstance(text, str):
            raise _fail(f"{field}[{i}].text", "must be a string")
        texts.append(text)
    return "".join(texts)


def _image(block: dict[str, Any], field: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _fail(f"{field}.source", "must be an object")
    kind = source.get("type")
    if kind == "base64":
        return {"kind": "image", "data": source.get("data"), "media_type": source.get("media_type")}
    if kind == "url":
        return {"kind": "image", "url": source.get("url")}
    raise _fail(f"{field}.source.type", f"must be base64 or url, got {kind!r}")


def _turn(message: object, field: str) -> list[dict[str, Any]]:
    """One Anthropic turn as hub messages: a user turn's tool results become tool messages."""
    if not isinstance(message, dict):
        raise _fail(field, "must be an object")
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise _fail(f"{field}.role", f"must be user or assistant, got {role!r}")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _fail(f"{field}.content", "must be a string or a list of content blocks")
    parts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        where = f"{field}.content[{i}]"
        if not isinstance(block, dict):
            raise _fail(where, "must be a content block object")
        kind = block.get("type")
        if kind == "text":
            parts.append({"kind": "text", "text": block.get("text")})
        elif kind == "image" and role == "user":
            parts.append(_image(block, where))
        elif kind == "tool_use" and role == "assistant":
            arguments = block.get("input", {})
            parts.append(
                {"kind": "tool_call", "id": block.get("id"), "name": block.get("name"),
                 "arguments": arguments}
            )  # fmt: skip
        elif kind == "tool_result" and role == "user":
            results.append(
                {"kind": "tool_result", "tool_call_id": block.get("tool_use_id"),
                 "content": _text_of(block.get("content", ""), f"{where}.content"),
                 "is_error": bool(block.get("is_error", False))}
            )  # fmt: skip
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            continue  # earlier reasoning: the hub's providers do not take it back
        else:
            raise _fail(f"{where}.type", f"unsupported content block {kind!r} in a {role} turn")
    turns: list[dict[str, Any]] = []
    if results:
        turns.append({"role": "tool", "content": results})
    if parts or not results:
        turns.append({"role": role, "content": parts})
    return turns


def _tools(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail("tools", "must be a list")
    tools = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _fail(f"tools[{i}]", "must be an object")
        if tool.get("type") not in (None, "custom"):
            raise _fail(f"tools[{i}].type", f"server tools are not supported: {tool['type']!r}")
        entry: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description") is not None:
            entry["description"] = tool["description"]
        if tool.get("input_schema") is not None:
            entry["parameters"] = tool["input_schema"]
        tools.append(entry)
    return tools


def _tool_choice(raw: object) -> object:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail("tool_choice", "must be an object")
    kind = raw.get("type")
    if kind == "tool":
        return {"name": raw.get("name")}
    if kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[kind]
    raise _fail("tool_choice.type", f"must be auto, any, tool or none, got {kind!r}")


def request_from_body(body: object) -> ChatRequest:
    """A validated request from a ``/v1/messages`` body; raises
    :class:`~hubactors.InvalidRequestError` naming the field."""
    if not isinstance(body, dict):
        raise _fail(None, "the body must be a JSON object")
    if body.get("max_tokens") is None:
        raise _fail("max_tokens", "is required")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise _fail("messages", "must be a list")
    messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": _text_of(body["system"], "system")})
    for i, message in enumerate(raw_messages):
        messages.extend(_turn(message, f"messages[{i}]"))
    data: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "tools": _tools(body.get("tools")),
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "max_tokens": body.get("max_tokens"),
        "stop": body.get("stop_sequences"),
        "stream": body.get("stream", False),
    }
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            data[key] = body[key]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        data["metadata"] = {"user_id": metadata["user_id"]}
    return coerce_request(data)


# --- responses -----------------------------------------------------------------------------


def _new_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
    }


def _stop_reason(reason: FinishReason, raw: str | None) -> str:
    if raw == "stop_sequence":
        return "stop_sequence"
    return _STOP_REASONS.get(reason, "end_turn")


def message(response: ChatResponse) -> dict[str, Any]:
    """``response`` as an Anthropic ``message`` object."""
    content: list[dict[str, Any]] = []
    if response.reasoning:
        content.append({"type": "thinking", "thinking": response.reasoning, "signature": ""})
    if response.text:
        content.append({"type": "text", "text": response.text})
    for i, call in enumerate(response.tool_calls):
        content.append(
            {"type": "tool_use", "id": call.id or f"toolu_{i}", "name": call.name,
             "input": call.arguments}
        )  # fmt: skip
    return {
        "id": response.id or _new_id(),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": _stop_reason(response.finish_reason, response.raw_finish_reason),
        "stop_sequence": None,
        "usage": _usage(response.usage),
    }


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and Anthropic error object for a request failing with ``exc``."""
    status = http_status(exc)
    return status, simple_error(status, wire_error(exc).message)


def simple_error(status: int, message: str) -> dict[str, Any]:
    """An Anthropic error object for a condition of the server itself (auth, route, body)."""
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def models(names: list[str]) -> dict[str, Any]:
    """``/v1/models`` as Anthropic's SDK reads it: one model per route."""
    data = [
        {"type": "model", "id": name, "display_name": name, "created_at": "1970-01-01T00:00:00Z"}
        for name in names
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }


class EventEncoder:
    """Turns the hub's stream events into Anthropic's server-sent event sequence.

    Text and thinking stream as deltas of their block; a tool call is sent as one
    ``tool_use`` block when it is complete (its arguments arrive as one
    ``input_json_delta``), so interleaved calls can never produce an invalid block order.
    """

    def __init__(self) -> None:
        self._id = _new_id()
        self._model = ""
        self._started = False
        self._index = -1
        self._open: str | None = None  # the type of the open content block
        self._usage = Usage()
        self._finish: Finish | None = None

    def _event(self, name: str, payload: dict[str, Any]) -> bytes:
        return sse(_json.encode({"type": name, **payload}), event=name)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        head: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(self._usage),
        }
        return [self._event("message_start", {"message": head})]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [self._event("content_block_stop", {"index": self._index})]

    def _block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        """Open a block of ``kind`` unless one is open already."""
        if self._open == kind:
            return []
        out = self._close_block()
        self._index += 1
        self._open = kind
        out.append(
            self._event("content_block_start", {"index": self._index, "content_block": block})
        )
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._event("content_block_delta", {"index": self._index, "delta": delta})

    def feed(self, event: StreamEvent) -> list[bytes]:
        """The server-sent events for one stream event."""
        match event:
            case StreamStart():
                self._id = event.id or self._id
                self._model = event.model or self._model
                return self._start()
            case TextDelta(text=text):
                out = [*self._start(), *self._block("text", {"type": "text", "text": ""})]
                return [*out, self._delta({"type": "text_delta", "text": text})]
            case ReasoningDelta(text=text):
                thinking = {"type": "thinking", "thinking": "", "signature": ""}
                out = [*self._start(), *self._block("thinking", thinking)]
                return [*out, self._delta({"type": "thinking_delta", "thinking": text})]
            case ToolCallComplete(index=index, tool_call=call):
                out = [*self._start(), *self._close_block()]
                tool_use: dict[str, Any] = {
                    "type": "tool_use", "id": call.id or f"toolu_{index}", "name": call.name,
                    "input": {},
                }  # fmt: skip
                out += self._block("tool_use", tool_use)
                arguments = _json.encode(call.arguments).decode()
                out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
                return [*out, *self._close_block()]
            case UsageEvent(usage=usage):
                self._usage = usage
            case Finish():
                self._finish = event
        return []

    def end(self) -> list[bytes]:
        """The events that close a complete stream: ``message_delta`` and ``message_stop``."""
        out = [*self._start(), *self._close_block()]
        finish = self._finish
        reason = finish.finish_reason if finish else FinishReason.STOP
        delta = {
            "stop_reason": _stop_reason(reason, finish.raw_finish_reason if finish else None),
            "stop_sequence": None,
        }
        out.append(self._event("message_delta", {"delta": delta, "usage": _usage(self._usage)}))
        out.append(self._event("message_stop", {}))
        return out

    def error(self, exc: BaseException) -> list[bytes]:
        """An in-band ``error`` event (Anthropic's SDK raises it from the stream)."""
        _, body = error_body(exc)
        return [sse(_json.encode(body), event="error")]
