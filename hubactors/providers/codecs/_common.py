"""What a provider codec is: pure functions between our model and one wire format.

A codec does no I/O. It turns a :class:`~hubactors.ChatRequest` into an
:class:`HttpRequestSpec`, a response body into a :class:`~hubactors.ChatResponse`, SSE
events into :data:`~hubactors.StreamEvent` values, and an error response into a typed
:class:`~hubactors.errors.ProviderError`. The HTTP transport and the provider actor do the
rest, so adding a provider means adding one codec module and registering it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from hubactors.errors import ProviderError
from hubactors.model._types import ChatRequest, ChatResponse, StreamEvent
from hubactors.providers._base import UsageConvention
from hubactors.providers._sse import SSEEvent


class Secret:
    """A credential that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

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


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to reach one deployment: everything a codec needs to address it.

    ``base_url`` is the URL the provider's official SDK takes (e.g. OpenAI
    ``https://api.openai.com/v1``, Anthropic ``https://api.anthropic.com``, Gemini
    ``https://generativelanguage.googleapis.com``; Azure: the resource URL).
    """

    provider: str
    model: str
    base_url: str
    api_key: Secret | None = None
    api_version: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    deployment: str = ""


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


def encode_body(body: dict[str, Any], endpoint: Endpoint) -> bytes:
    """The JSON request body, with the deployment's ``extra_body`` fields laid over it
    (provider options the common model does not cover, e.g. Gemini ``safetySettings``)."""
    if endpoint.extra_body:
        body = {**body, **endpoint.extra_body}
    return msgspec.json.encode(body)
