"""Gemini wire types and their translation into our model.

Typed msgspec structs for decoding ``GenerateContentResponse`` chunks and error bodies
(unknown fields are ignored), finish-reason and usage normalization, and the error mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from hubactors._timing import parse_duration, parse_retry_after
from hubactors.errors import (
    AuthenticationError,
    ContentFilterError,
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


class WirePartialArg(msgspec.Struct, rename="camel"):
    json_path: str = ""
    string_value: str | None = None
    number_value: int | float | None = None
    bool_value: bool | None = None
    null_value: Any = msgspec.UNSET
    will_continue: bool = False


class WireFunctionCall(msgspec.Struct, rename="camel"):
    id: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    partial_args: list[WirePartialArg] | None = None
    will_continue: bool = False


class WirePart(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool = False
    function_call: WireFunctionCall | None = None


class WireContent(msgspec.Struct):
    parts: list[WirePart] = []


class WireCandidate(msgspec.Struct, rename="camel"):
    content: WireContent | None = None
    finish_reason: str | None = None


class WireUsage(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0


class WirePromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None
    block_reason_message: str | None = None


class WireDetail(msgspec.Struct, rename="camel"):
    type: str = msgspec.field(default="", name="@type")
    reason: str | None = None
    retry_delay: str | None = None


class WireError(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[WireDetail] = []


class WireResponse(msgspec.Struct, rename="camel"):
    candidates: list[WireCandidate] = []
    usage_metadata: WireUsage | None = None
    prompt_feedback: WirePromptFeedback | None = None
    model_version: str = ""
    response_id: str = ""
    error: WireError | None = None


RESPONSE = msgspec.json.Decoder(WireResponse)
ERROR_BODY = msgspec.json.Decoder(WireResponse | list[WireResponse])

_FINISH = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
    "TOO_MANY_TOOL_CALLS": FinishReason.ERROR,
}
_STATUS: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": ProviderInvalidRequestError,
    "FAILED_PRECONDITION": ProviderInvalidRequestError,
    "OUT_OF_RANGE": ProviderInvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "INTERNAL": ServerError,
    "UNAVAILABLE": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
    "UNKNOWN": ServerError,
}


def finish_reason(raw: str | None, has_calls: bool) -> FinishReason:
    return normalize_finish(_FINISH, raw, has_calls)


def usage_from(wire: WireUsage | None) -> Usage:
    if wire is None:
        return Usage()
    return Usage(
        input_tokens=wire.prompt_token_count,
        output_tokens=wire.candidates_token_count,
        cached_input_tokens=wire.cached_content_token_count,
        reasoning_tokens=wire.thoughts_token_count,
    )


def build_error(
    error: WireError, endpoint: Endpoint, status: int | None, headers: Mapping[str, str]
) -> ProviderError:
    """The typed error for a Google RPC error object (and HTTP ``status`` when known)."""
    status = status or error.code or None
    reason = next((d.reason for d in error.details if d.reason), None)
    cls = _STATUS.get(error.status) or error_from_status(status or 500)
    if reason and reason.startswith("API_KEY_") and not issubclass(cls, AuthenticationError):
        cls = AuthenticationError
    cls = context_length_or(cls, error.message)
    delay = next((d.retry_delay for d in error.details if d.retry_delay), None)
    retry_after = parse_duration(delay) if delay else None
    if retry_after is None:
        retry_after = parse_retry_after(headers)
    return cls(
        clean_message(error.message or error.status or "unknown error", endpoint),
        status=status,
        error_type=error.status or None,
        code=reason,
        retry_after=retry_after,
        **error_kwargs(endpoint),
    )


def blocked_error(feedback: WirePromptFeedback | None, endpoint: Endpoint) -> ProviderError | None:
    if feedback is None or not feedback.block_reason:
        return None
    detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
    return ContentFilterError(
        clean_message(f"Gemini blocked the prompt ({feedback.block_reason}){detail}", endpoint),
        error_type=feedback.block_reason,
        **error_kwargs(endpoint),
    )
