"""The WebSocket JSON protocol: the frames, and parsing what a client sends.

Client to server::

    {"type": "request", "id": "r1", "request": {"model": "chat", "messages": [...],
                                                "stream": true}}
    {"type": "cancel", "id": "r1"}

Server to client: ``{"type": "event", "id", "event"}`` for each stream event (streams only),
then exactly one final frame per request, ``{"type": "response", "id", "response"}`` or
``{"type": "error", "id", "error": {"type", "message", "retryable", "status"}}``. A frame
that cannot be tied to a request (not JSON, no id) is answered with ``"id": null``.
Pure: no I/O, no trio.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hubactors import ChatRequest, ChatResponse, InvalidRequestError, StreamEvent, coerce_request
from hubactors.server._errors import WireError, wire_error

MAX_ID_LENGTH = 256


class EventFrame(msgspec.Struct, frozen=True, tag="event", tag_field="type"):
    """One event of a streamed request."""

    id: str
    event: StreamEvent


class ResponseFrame(msgspec.Struct, frozen=True, tag="response", tag_field="type"):
    """The final frame of a request that succeeded (for a stream: the assembled response)."""

    id: str
    response: ChatResponse


class ErrorFrame(msgspec.Struct, frozen=True, tag="error", tag_field="type"):
    """The final frame of a request that failed, or the answer to a frame without an id."""

    id: str | None
    error: WireError


ServerFrame = EventFrame | ResponseFrame | ErrorFrame


class RequestFrame(msgspec.Struct, frozen=True):
    """A validated request from the client."""

    id: str
    request: ChatRequest


class CancelFrame(msgspec.Struct, frozen=True):
    """The client no longer wants request ``id``."""

    id: str


class BadFrame(Exception):
    """A frame the server answers with an error frame (for ``id`` when it had one)."""

    def __init__(self, id: str | None, error: InvalidRequestError) -> None:
        super().__init__(error.message)
        self.id = id
        self.error = error

    def frame(self) -> ErrorFrame:
        return ErrorFrame(self.id, wire_error(self.error))


_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def encode_frame(frame: ServerFrame) -> str:
    """A server frame as the text of one WebSocket message."""
    return _encoder.encode(frame).decode()


def _frame_id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise BadFrame(
            None,
            InvalidRequestError(f"must be a string of 1 to {MAX_ID_LENGTH} characters", field="id"),
        )
    return value


def _request_of(id: str, raw: object) -> ChatRequest:
    if not isinstance(raw, dict):
        raise BadFrame(id, InvalidRequestError("must be an object", field="request"))
    if raw.get("deadline") is not None:
        # An absolute time on the server's own clock means nothing to a remote client.
        raise BadFrame(
            id,
            InvalidRequestError("is not accepted over the network; use timeout", field="deadline"),
        )
    try:
        return coerce_request(raw)
    except InvalidRequestError as exc:
        raise BadFrame(id, exc) from None


def parse_client_frame(text: str) -> RequestFrame | CancelFrame:
    """Parse one text message from a client.

    Raises :class:`BadFrame` for anything that is not a valid request or cancel frame: not
    JSON, not an object, an unknown ``type``, a bad ``id``, or a request that fails
    validation (its ``field`` names the offending part of ``request``).
    """
    try:
        data = _decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise BadFrame(None, InvalidRequestError(f"not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise BadFrame(None, InvalidRequestError("a frame must be a JSON object"))
    kind = data.get("type")
    if kind == "request":
        id = _frame_id(data)
        return RequestFrame(id, _request_of(id, data.get("request")))
    if kind == "cancel":
        return CancelFrame(_frame_id(data))
    raw_id = data.get("id")
    raise BadFrame(
        raw_id if isinstance(raw_id, str) else None,
        InvalidRequestError(f"unknown frame type {kind!r} (request, cancel)", field="type"),
    )
