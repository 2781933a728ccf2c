"""The OpenAI Chat Completions dialect: request bodies in, completions and chunks out.

Pure translation, no I/O. Requests are OpenAI-shaped already, so the hub's own converter
reads them; what is left is the answer's shape: a ``chat.completion``, the
``chat.completion.chunk`` stream (with a final usage chunk when
``stream_options.include_usage``), and OpenAI's error object.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

import hubactors
from hubactors import (
    ChatRequest,
    ChatResponse,
    ContextLengthError,
    Finish,
    InvalidRequestError,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallComplete,
    ToolCallDelta,
    Usage,
    UsageEvent,
    coerce_request,
)
from hubactors.server._errors import http_status, wire_error

_json = msgspec.json.Encoder()

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout",
}


def request_from_body(body: object) -> ChatRequest:
    """A validated request from a ``/v1/chat/completions`` body; raises
    :class:`~hubactors.InvalidRequestError` naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    if body.get("deadline") is not None:
        raise InvalidRequestError("is not accepted over the network; use timeout", field="deadline")
    return coerce_request(body)


def include_usage(body: dict[str, Any]) -> bool:
    """Whether the stream should end with a usage chunk (``stream_options.include_usage``)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(response: ChatResponse, *, created: int | None = None) -> dict[str, Any]:
    """``response`` as a ``chat.completion`` object with one choice."""
    body = hubactors.response_to_openai(response, created=created)
    body["id"] = body["id"] or _new_id()
    return body


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error object for a request failing with ``exc``."""
    status = http_status(exc)
    error = wire_error(exc)
    code: str | None = None
    if isinstance(exc, ContextLengthError):
        code = "context_length_exceeded"
    param = exc.field if isinstance(exc, InvalidRequestError) else None
    return status, {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": code or error.type,
        }
    }


def simple_error(status: int, message: str, code: str) -> dict[str, Any]:
    """An OpenAI error object for a condition of the server itself (auth, route, body)."""
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": code,
        }
    }


def models(names: list[str], *, created: int = 0) -> dict[str, Any]:
    """The ``/v1/models`` list: one model per route."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "hubactors"}
            for name in names
        ],
    }


def sse(data: bytes, event: str | None = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + data + b"\n\n"


class ChunkEncoder:
    """Turns the hub's stream events into ``chat.completion.chunk`` server-sent events.

    Tool calls stream as their deltas; a call that arrives only complete (no deltas) is
    sent as one delta holding all of it. After an error no ``[DONE]`` follows, so the stream
    cannot look complete.
    """

    def __init__(self, *, include_usage: bool = False, created: int | None = None) -> None:
        self._include_usage = include_usage
        self._created = int(time.time()) if created is None else created
        self._id = _new_id()
        self._model = ""
        self._started = False
        self._streamed_calls: set[int] = set()
        self._usage = Usage()

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        return sse(_json.encode(chunk))

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: StreamEvent) -> list[bytes]:
        """The server-sent events for one stream event (often one, sometimes none)."""
        match event:
            case StreamStart():
                self._id = event.id or self._id
                self._model = event.model or self._model
                return self._start()
            case TextDelta(text=text):
                return [*self._start(), self._chunk({"content": text})]
            case ReasoningDelta(text=text):
                return [*self._start(), self._chunk({"reasoning_content": text})]
            case ToolCallDelta():
                self._streamed_calls.add(event.index)
                call: dict[str, Any] = {"index": event.index}
                if event.id is not None:
                    call["id"] = event.id
                    call["type"] = "function"
                function: dict[str, Any] = {"arguments": event.arguments}
                if event.name is not None:
                    function["name"] = event.name
                call["function"] = function
                return [*self._start(), self._chunk({"tool_calls": [call]})]
            case ToolCallComplete(index=index, tool_call=tool_call):
                if index in self._streamed_calls:
                    return []
                self._streamed_calls.add(index)
                whole = {
                    "index": index,
                    "id": tool_call.id or f"call_{index}",
                    "type": "function",
                    "function": {
                        "name": tool_call.name,
                        "arguments": _json.encode(tool_call.arguments).decode(),
                    },
                }
                return [*self._start(), self._chunk({"tool_calls": [whole]})]
            case UsageEvent(usage=usage):
                self._usage = usage
                return []
            case Finish(finish_reason=reason):
                return [*self._start(), self._chunk({}, str(reason))]
        return []

    def end(self) -> list[bytes]:
        """The events that close a complete stream: the usage chunk if asked, ``[DONE]``."""
        out = self._start()
        if self._include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": hubactors.usage_to_openai(self._usage),
            }
            out.append(sse(_json.encode(chunk)))
        out.append(sse(b"[DONE]"))
        return out

    def error(self, exc: BaseException) -> list[bytes]:
        """An in-band error event (OpenAI's SDK raises it as an ``APIError``)."""
        _, body = error_body(exc)
        return [sse(_json.encode(body), event="error")]
