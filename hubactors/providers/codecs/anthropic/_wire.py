"""Anthropic Messages wire types and their translation into our model.

Typed msgspec structs for decoding (unknown fields are ignored, so new API fields do not
break us), stop-reason and usage normalization, and the error mapping.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hubactors.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    error_from_status,
)
from hubactors.model._types import FinishReason, Usage
from hubactors.providers.codecs._common import (
    Endpoint,
    clean_message,
    context_length_or,
    error_kwargs,
    normalize_finish,
)


class WireUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class WireBlock(msgspec.Struct):
    type: str = ""
    text: str | None = None
    thinking: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class WireMessage(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[WireBlock] = []
    stop_reason: str | None = None
    usage: WireUsage | None = None


class WireDelta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None


class WireErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class WireEvent(msgspec.Struct):
    type: str = ""
    index: int = 0
    message: WireMessage | None = None
    content_block: WireBlock | None = None
    delta: WireDelta | None = None
    usage: WireUsage | None = None
    error: WireErrorDetail | None = None
    request_id: str | None = None


MESSAGE = msgspec.json.Decoder(WireMessage)
EVENT = msgspec.json.Decoder(WireEvent)

_FINISH = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}

# error type -> (class, the status it comes with, used for errors sent inside a stream)
_ERRORS: dict[str, tuple[type[ProviderError], int]] = {
    "invalid_request_error": (ProviderInvalidRequestError, 400),
    "authentication_error": (AuthenticationError, 401),
    "billing_error": (AuthenticationError, 402),
    "permission_error": (PermissionDeniedError, 403),
    "not_found_error": (NotFoundError, 404),
    "request_too_large": (ProviderInvalidRequestError, 413),
    "rate_limit_error": (RateLimitError, 429),
    "api_error": (ServerError, 500),
    "timeout_error": (ServerError, 504),
    "overloaded_error": (ServerError, 529),
}


def finish_reason(raw: str | None, has_tool_calls: bool) -> FinishReason:
    return normalize_finish(_FINISH, raw, has_tool_calls)


def usage_from(wire: WireUsage | None) -> Usage:
    if wire is None:
        return Usage()
    return Usage(
        input_tokens=wire.input_tokens or 0,
        output_tokens=wire.output_tokens or 0,
        cached_input_tokens=wire.cache_read_input_tokens or 0,
        cache_creation_input_tokens=wire.cache_creation_input_tokens or 0,
    )


def merge_usage(base: WireUsage, update: WireUsage) -> WireUsage:
    """``update``'s non-null fields over ``base``: how the SDK folds ``message_delta`` usage."""
    changes = {
        f: value for f in update.__struct_fields__ if (value := getattr(update, f)) is not None
    }
    return msgspec.structs.replace(base, **changes)


def build_error(
    error_type: str,
    message: str,
    endpoint: Endpoint,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    request_id: str | None = None,
) -> ProviderError:
    """The typed error for an Anthropic error ``type`` (and HTTP ``status`` when known)."""
    known = _ERRORS.get(error_type)
    if status is None:
        status = known[1] if known else None
    cls = context_length_or(known[0] if known else error_from_status(status or 500), message)
    return cls(
        clean_message(message or f"{error_type or 'unknown'} error", endpoint),
        status=status,
        error_type=error_type or None,
        retry_after=retry_after,
        request_id=request_id,
        **error_kwargs(endpoint),
    )
