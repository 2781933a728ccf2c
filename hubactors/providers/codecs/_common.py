"""What a provider codec is, and the helpers every codec shares.

A codec does no I/O. It turns a :class:`~hubactors.ChatRequest` into an
:class:`HttpRequestSpec`, a response body into a :class:`~hubactors.ChatResponse`, SSE
events into :data:`~hubactors.StreamEvent` values, and an error response into a typed
:class:`~hubactors.errors.ProviderError`. The HTTP transport and the provider actor do the
rest, so adding a provider means adding one codec module and registering it.

The policies all codecs follow are decided here, once: where an endpoint without
``base_url`` goes, what tool-call arguments that are not a JSON object become, how a body
that does not decode fails, what an error message may quote of a body, which message means
the prompt is too long, and whose headers win.
"""

from __future__ import annotations

import http
import re
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import msgspec

from hubactors.errors import (
    ConfigError,
    ContextLengthError,
    ProviderError,
    ProviderInvalidRequestError,
    ServerError,
    StreamInterruptedError,
    redact,
    register_secret,
)
from hubactors.model._convert_messages import split_data_url
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamEvent,
    StreamStart,
)
from hubactors.providers._base import UsageConvention
from hubactors.providers._sse import SSEEvent


class Secret:
    """A credential that never shows itself in ``repr``, ``str`` or logs.

    Creating one registers its value (:func:`~hubactors.errors.register_secret`): from then
    on no 8 characters of it survive in any error, log record or metric of this process.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
"""Where an endpoint without ``base_url`` is sent (Azure and compatible hosts have none)."""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to reach one deployment: everything a codec needs to address it.

    ``base_url`` is the URL the provider's official SDK takes (e.g. OpenAI
    ``https://api.openai.com/v1``, Anthropic ``https://api.anthropic.com``, Gemini
    ``https://generativelanguage.googleapis.com``; Azure: the resource URL). An empty one
    means the provider's default (:data:`DEFAULT_BASE_URLS`); a provider without a default
    raises :class:`~hubactors.errors.ConfigError`. A trailing ``/`` is dropped, so codecs
    append their paths to ``base_url`` as it is.
    """

    provider: str
    model: str
    base_url: str
    api_key: Secret | None = None
    api_version: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    deployment: str = ""

    def __post_init__(self) -> None:
        base_url = (self.base_url or DEFAULT_BASE_URLS.get(self.provider, "")).rstrip("/")
        if not base_url:
            where = f"deployment {self.deployment!r}: " if self.deployment else ""
            raise ConfigError(f"{where}base_url is required for {self.provider}", key="base_url")
        # Frozen, but still being built: the one moment the resolved URL can be stored.
        msgspec.structs.force_setattr(self, "base_url", base_url)


def api_key_of(endpoint: Endpoint) -> str:
    """The endpoint's API key, or ``""``: only for sending it and for redacting it."""
    return endpoint.api_key.reveal() if endpoint.api_key else ""


class HttpRequestSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An HTTP request, ready for the transport."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


class StreamDecoder(Protocol):
    """Turns one response stream's SSE events into stream events.

    ``feed`` raises a :class:`~hubactors.errors.ProviderError` for an error sent inside the
    stream. ``close`` is called at end of input: it returns any last events and raises
    :class:`~hubactors.errors.StreamInterruptedError` if the provider's terminal event never
    came. A successful stream's events end with exactly one ``Finish``.
    """

    def feed(self, event: SSEEvent) -> list[StreamEvent]: ...

    def close(self) -> list[StreamEvent]: ...


class Codec(Protocol):
    """One wire format. Implementations are stateless; decoders hold per-stream state."""

    name: str
    usage_convention: UsageConvention

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequestSpec:
        """The HTTP request for ``request`` (streaming when ``request.stream``).

        Raises :class:`~hubactors.errors.InvalidRequestError` for what this API cannot express.
        """
        ...

    def parse_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        """A successful (2xx) non-streaming body as a response (cost and timing left at 0)."""
        ...

    def stream_decoder(self, endpoint: Endpoint) -> StreamDecoder:
        """A fresh decoder for one streamed response."""
        ...

    def parse_error(
        self, status: int, headers: Mapping[str, str], body: bytes, endpoint: Endpoint
    ) -> ProviderError:
        """The typed error for a non-2xx response, with the provider's message kept."""
        ...

    def health_request(self, endpoint: Endpoint) -> HttpRequestSpec | None:
        """A cheap request that proves the deployment answers (e.g. list models), if any."""
        ...


# --- building requests ---------------------------------------------------------------------


def encode_body(body: dict[str, Any], endpoint: Endpoint) -> bytes:
    """The JSON request body, with the deployment's ``extra_body`` fields laid over it
    (provider options the common model does not cover, e.g. Gemini ``safetySettings``)."""
    if endpoint.extra_body:
        body = {**body, **endpoint.extra_body}
    return msgspec.json.encode(body)


def request_headers(
    endpoint: Endpoint, defaults: Mapping[str, str], key_header: str, key_prefix: str = ""
) -> dict[str, str]:
    """The codec's ``defaults``, then the API key in ``key_header`` (after ``key_prefix``,
    e.g. ``"Bearer "``; left out without a key), then the deployment's own ``headers``.

    The deployment's headers win, as its ``extra_body`` does in :func:`encode_body`: a
    gateway in front of the provider may need its own ``Authorization`` or ``Accept``.
    """
    key = api_key_of(endpoint)
    auth = {key_header: key_prefix + key} if key else {}
    return {**defaults, **auth, **endpoint.headers}


def inline_data(url: str, field: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a ``data:`` image URL, ``None`` for any other URL.

    A malformed ``data:`` URL (not base64, not an image type) raises ``InvalidRequestError``
    naming ``field``, exactly as when an OpenAI-shaped request is converted.
    """
    if url[:5].lower() != "data:":
        return None
    return split_data_url(url, field)


# --- tool calls and finish reasons ---------------------------------------------------------

RAW_ARGUMENTS = "_raw"
"""The key that keeps the text of tool-call arguments that are not a JSON object."""


def parse_arguments(text: str) -> dict[str, Any]:
    """Tool-call arguments as a dict: ``{}`` when empty, ``{"_raw": text}`` when not an object.

    Arguments cut short by ``max_tokens``, or a model's invalid JSON, are kept as sent (the
    official SDKs hand over the raw string too) rather than failing the whole response or
    dropping the call: the caller sees what came, and the finish reason says why.
    """
    if not text.strip():
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {RAW_ARGUMENTS: text}
    return value if isinstance(value, dict) else {RAW_ARGUMENTS: text}


def encode_arguments(arguments: dict[str, Any]) -> str:
    """Arguments as compact JSON text (what the wire and a ``ToolCallDelta`` carry)."""
    return msgspec.json.encode(arguments).decode()


def normalize_finish(
    table: Mapping[str, FinishReason], raw: str | None, has_tool_calls: bool
) -> FinishReason:
    """``raw`` through the codec's ``table`` (unknown or missing: ``STOP``).

    A turn that carries tool calls never finishes as ``STOP``: some providers say ``stop``
    when ``tool_choice`` forced the call.
    """
    reason = table.get(raw or "", FinishReason.STOP)
    return FinishReason.TOOL_CALLS if has_tool_calls and reason is FinishReason.STOP else reason


# --- errors --------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_EXCERPT_CHARS = 160
_CONTEXT_LENGTH = re.compile(
    r"prompt is too long|exceeds? (the )?context (limit|window)|context (length|window)"
    r"|input token count.*exceeds|exceeds the maximum number of tokens",
    re.IGNORECASE,
)


def error_kwargs(endpoint: Endpoint) -> dict[str, Any]:
    """The ``deployment``/``provider`` keyword arguments of every error a codec raises."""
    return {"deployment": endpoint.deployment or None, "provider": endpoint.provider}


def clean_message(message: str, endpoint: Endpoint) -> str:
    """A provider's message with the endpoint's key (and anything key-shaped) redacted."""
    return redact(message, api_key_of(endpoint))


def body_excerpt(body: bytes | str, endpoint: Endpoint) -> str:
    """A short, tag-free, redacted excerpt of a body (an HTML page from a proxy, say)."""
    raw = body[:2048]
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = " ".join(_TAG.sub(" ", text).split())
    cut = text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "")
    return clean_message(cut, endpoint)


def status_message(status: int, body: bytes, endpoint: Endpoint) -> str:
    """The message for an error body with no error object: the status phrase and an excerpt."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return f"{phrase}: {body_excerpt(body, endpoint)}" if body.strip() else phrase


def context_length_or(cls: type[ProviderError], message: str) -> type[ProviderError]:
    """``ContextLengthError`` for an invalid request whose message says the prompt is too
    long (each provider words it its own way); ``cls`` otherwise."""
    if cls is ProviderInvalidRequestError and _CONTEXT_LENGTH.search(message):
        return ContextLengthError
    return cls


def first_header(headers: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` present in ``headers`` (any case), e.g. a request id."""
    lower = {k.lower(): v for k, v in headers.items()}
    return next((lower[name] for name in names if lower.get(name)), None)


# --- decoding ------------------------------------------------------------------------------

T = TypeVar("T")


def decode(decoder: msgspec.json.Decoder[T], data: bytes | str, endpoint: Endpoint) -> T:
    """``data`` decoded by ``decoder``; a body that does not decode raises ``ServerError``
    (``error_type`` ``malformed_response``, its message quoting an excerpt of the body)."""
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        excerpt = body_excerpt(data, endpoint)
        raise ServerError(
            clean_message(f"malformed {endpoint.provider} response ({exc}): {excerpt}", endpoint),
            error_type="malformed_response",
            **error_kwargs(endpoint),
        ) from None


def decode_or_none(decoder: msgspec.json.Decoder[T], data: bytes | str) -> T | None:
    """``data`` decoded by ``decoder``, or ``None`` if it does not decode (an error body from
    a proxy, say, which then falls back to :func:`status_message`)."""
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


# --- streams -------------------------------------------------------------------------------


def stream_start(endpoint: Endpoint, id: str, model: str) -> StreamStart:
    """The first event of every stream (its provider and deployment are stamped by the
    deployment that serves it)."""
    return StreamStart(id=id, model=model or endpoint.model)


def stream_interrupted(endpoint: Endpoint, message: str) -> StreamInterruptedError:
    """The error for a stream that ended before its terminal event. What reached the caller
    (``partial_text``) is the hub's to say: it is the one that handed the events out."""
    return StreamInterruptedError(message, **error_kwargs(endpoint))
