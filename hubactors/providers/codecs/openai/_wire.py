"""Chat Completions wire types and the decoding shared by responses, streams and errors.

The wire Structs are built once and decode straight from bytes; unknown fields (``x_groq``
extras, ``obfuscation``, Azure's filter results...) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from hubactors._timing import parse_retry_after
from hubactors.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthError,
    ProviderError,
    ProviderInvalidRequestError,
    RateLimitError,
    ServerError,
    error_from_status,
)
from hubactors.model._types import ChatResponse, FinishReason, ToolCall, Usage
from hubactors.providers.codecs._common import (
    Endpoint,
    clean_message,
    context_length_or,
    decode,
    error_kwargs,
    first_header,
    normalize_finish,
    parse_arguments,
)


class WireFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class WireToolCall(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    function: WireFunction | None = None


class WireMessage(msgspec.Struct):
    content: str | list[Any] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[WireToolCall] | None = None
    function_call: WireFunction | None = None


class WireChoice(msgspec.Struct):
    index: int = 0
    message: WireMessage | None = None
    delta: WireMessage | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's name for cached input


class _XGroq(msgspec.Struct):
    usage: WireUsage | None = None


class WireError(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class WireCompletion(msgspec.Struct):
    """A whole response body, a stream chunk, or an error body: they share the fields."""

    id: str | None = None
    model: str | None = None
    choices: list[WireChoice] | None = None
    usage: WireUsage | None = None
    x_groq: _XGroq | None = None
    error: WireError | str | None = None
    message: str | None = None
    detail: Any = None


COMPLETION = msgspec.json.Decoder(WireCompletion)

# --- shared helpers ------------------------------------------------------------------------

_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}


def finish_reason(raw: str | None, has_tools: bool, refused: bool) -> FinishReason:
    """The normalized reason: refusals are ``content_filter``, tool calls never ``stop``."""
    if refused:
        return FinishReason.CONTENT_FILTER
    return normalize_finish(_FINISH, raw, has_tools)


def usage_from(wire: WireUsage | None) -> Usage | None:
    """Our usage from the wire's (DeepSeek's ``prompt_cache_hit_tokens`` as a fallback)."""
    if wire is None:
        return None
    cached = wire.prompt_tokens_details.cached_tokens if wire.prompt_tokens_details else None
    details = wire.completion_tokens_details
    return Usage(
        input_tokens=wire.prompt_tokens or 0,
        output_tokens=wire.completion_tokens or 0,
        cached_input_tokens=(cached if cached is not None else wire.prompt_cache_hit_tokens) or 0,
        reasoning_tokens=(details.reasoning_tokens if details else None) or 0,
    )


def content_text(content: str | list[Any] | None) -> str:
    """The answer text of a message or delta ``content``."""
    if content is None or isinstance(content, str):
        return content or ""
    # Some hosts send content as a list of parts; only text parts are answer text.
    return "".join(
        p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _classify(
    status: int | None, etype: str, code: str, message: str
) -> tuple[type[ProviderError], bool | None]:
    kinds = {etype, code}
    if "context_length_exceeded" in kinds:
        return ContextLengthError, None
    if kinds & {"content_filter", "content_policy_violation"}:
        return ContentFilterError, None
    if status == 401 or kinds & {"authentication_error", "invalid_api_key"}:
        return AuthenticationError, None
    if "insufficient_quota" in kinds:
        return RateLimitError, False  # out of credit: waiting does not help
    if status is not None:
        return context_length_or(error_from_status(status), message), None
    # An error sent inside a 200 stream has no status of its own.
    if "invalid_request_error" in kinds:
        return context_length_or(ProviderInvalidRequestError, message), None
    if kinds & {"rate_limit_exceeded", "rate_limit_error", "tokens", "requests"}:
        return RateLimitError, None
    return ServerError, None


def build_error(
    status: int | None,
    headers: Mapping[str, str],
    wire: WireCompletion | None,
    fallback: str,
    endpoint: Endpoint,
) -> ProviderError:
    """The typed error for an error body (``status`` is ``None`` for one sent in a stream).

    The message is the provider's, with the API key redacted; ``fallback`` when it has none.
    """
    message, etype, code = "", "", ""
    if wire is not None:
        err = wire.error
        if isinstance(err, WireError):
            message, etype = err.message or "", err.type or ""
            if isinstance(err.code, int) and status is None and 400 <= err.code < 600:
                status = err.code  # vLLM and others put the HTTP status here
            code = "" if err.code is None else str(err.code)
        elif isinstance(err, str):
            message = err
        message = message or wire.message or (wire.detail if isinstance(wire.detail, str) else "")
    message = clean_message(message or fallback, endpoint)
    cls, retryable = _classify(status, etype, code, message)
    return cls(
        message,
        status=status,
        retryable=retryable,
        error_type=etype or None,
        code=code or None,
        retry_after=parse_retry_after(headers),
        request_id=first_header(headers, "x-request-id", "apim-request-id"),
        **error_kwargs(endpoint),
    )


# --- whole responses ----------------------------------------------------------------------


def _tool_calls(calls: list[WireToolCall] | None, legacy: WireFunction | None) -> list[ToolCall]:
    out = [
        ToolCall(
            id=c.id or None,
            name=(c.function.name if c.function else None) or "",
            arguments=parse_arguments((c.function.arguments if c.function else None) or ""),
        )
        for c in calls or ()
    ]
    if not out and legacy is not None and legacy.name:
        out.append(
            ToolCall(id=None, name=legacy.name, arguments=parse_arguments(legacy.arguments or ""))
        )
    return out


def parse_response(body: bytes, endpoint: Endpoint) -> ChatResponse:
    """A 2xx body as a response; ``ServerError`` if malformed, the typed error if an error."""
    wire = decode(COMPLETION, body, endpoint)
    if wire.error is not None:
        raise build_error(None, {}, wire, "error in a successful response", endpoint)
    choice = next((c for c in wire.choices or () if c.index == 0), None)
    if choice is None or choice.message is None:
        raise ServerError("response has no choices", **error_kwargs(endpoint))
    msg = choice.message
    calls = _tool_calls(msg.tool_calls, msg.function_call)
    text = content_text(msg.content)
    refused = bool(msg.refusal) and not text
    return ChatResponse(
        id=wire.id or "",
        model=wire.model or endpoint.model,
        text=(msg.refusal or "") if refused else text,
        tool_calls=calls,
        finish_reason=finish_reason(choice.finish_reason, bool(calls), refused),
        raw_finish_reason=choice.finish_reason,
        usage=usage_from(wire.usage or (wire.x_groq.usage if wire.x_groq else None)) or Usage(),
        reasoning=msg.reasoning_content or msg.reasoning or None,
    )
