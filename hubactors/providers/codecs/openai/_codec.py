"""The OpenAI Chat Completions wire format, spoken by OpenAI, Azure OpenAI and compatible hosts.

Three codecs share it: :data:`OPENAI` (``Authorization: Bearer``, ``/chat/completions``),
:data:`AZURE` (``api-key`` header, ``/openai/deployments/{model}/chat/completions`` with
``api-version``) and :data:`COMPATIBLE` (any host speaking the format: DeepSeek, Groq, xAI,
vLLM, Ollama...; ``base_url`` required, the key optional).

Decisions worth knowing:

- Tool-call arguments that are not a JSON object (invalid JSON, e.g. cut off by
  ``max_tokens``) are kept as ``{"_raw": "<the text>"}``, as every codec keeps them
  (:func:`~hubactors.providers.codecs._common.parse_arguments`); empty arguments are ``{}``.
- A refusal is returned as the text with ``finish_reason`` ``content_filter`` (the raw
  reason kept as sent).
- Tool calls with a raw reason of ``stop`` (OpenAI does this when ``tool_choice`` names a
  function) are normalized to ``tool_calls``.
- ``data: [DONE]`` ends a stream. A stream that closes after a ``finish_reason`` but
  without ``[DONE]`` (some compatible hosts) is accepted as finished; one that closes with
  neither raises :class:`~hubactors.errors.StreamInterruptedError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from hubactors.errors import InvalidRequestError, ProviderError
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    NamedToolChoice,
    TextPart,
    Tool,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.providers._base import OPENAI_USAGE
from hubactors.providers.codecs._common import (
    Endpoint,
    HttpRequestSpec,
    decode_or_none,
    encode_arguments,
    encode_body,
    request_headers,
    status_message,
)
from hubactors.providers.codecs.openai import _wire as wire
from hubactors.providers.codecs.openai._stream import ChatCompletionsStreamDecoder

__all__ = [
    "AZURE",
    "CODEC",
    "COMPATIBLE",
    "OPENAI",
    "AzureOpenAICodec",
    "ChatCompletionsStreamDecoder",
    "OpenAICodec",
    "OpenAICompatibleCodec",
]

# --- request building ----------------------------------------------------------------------


def _image(part: ImagePart, field: str) -> dict[str, Any]:
    if part.url:
        url = part.url
    elif part.data and part.media_type:
        url = f"data:{part.media_type};base64,{part.data}"
    else:
        raise InvalidRequestError("an image needs a url, or data with its media_type", field=field)
    image: dict[str, Any] = {"url": url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _tool_call(part: ToolCallPart, field: str) -> dict[str, Any]:
    if not part.id:
        raise InvalidRequestError("this API needs an id on every tool call", field=f"{field}.id")
    return {
        "id": part.id,
        "type": "function",
        "function": {"name": part.name, "arguments": encode_arguments(part.arguments)},
    }


def _message(message: Message, index: int) -> list[dict[str, Any]]:
    """One of our messages as wire messages: tool results become ``role: tool`` messages."""
    role, field = message.role, f"messages[{index}].content"
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        where = f"{field}[{j}]"
        if isinstance(part, ToolResultPart):
            results.append(
                {"role": "tool", "tool_call_id": part.tool_call_id, "content": part.content}
            )
        elif isinstance(part, ToolCallPart):
            if role != "assistant":
                raise InvalidRequestError("only assistant messages carry tool calls", field=where)
            calls.append(_tool_call(part, where))
        elif isinstance(part, ImagePart):
            if role != "user":
                raise InvalidRequestError("only user messages carry images", field=where)
            parts.append(_image(part, where))
        elif isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
    if role == "tool":
        if not results or parts:
            raise InvalidRequestError("a tool message holds only ToolResultParts", field=field)
        return results
    if results and not parts and not calls:
        return results
    entry: dict[str, Any] = {"role": role}
    if any(p["type"] != "text" for p in parts):
        entry["content"] = parts
    else:
        text = "".join(p["text"] for p in parts)
        entry["content"] = text if text or not calls else None
    if calls:
        entry["tool_calls"] = calls
    if message.name:
        entry["name"] = message.name
    return [*results, entry]


def _tool_choice(choice: str | NamedToolChoice) -> Any:
    if isinstance(choice, NamedToolChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def _body(request: ChatRequest, model: str, max_tokens_field: str) -> dict[str, Any]:
    if not request.messages:
        raise InvalidRequestError("at least one message is required", field="messages")
    body: dict[str, Any] = {
        "model": model,
        "messages": [m for i, msg in enumerate(request.messages) for m in _message(msg, i)],
    }
    if request.tools:
        body["tools"] = [{"type": "function", "function": _function(t)} for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_schema":
            if fmt.json_schema is None:
                raise InvalidRequestError("json_schema is required", field="response_format")
            schema = {"name": fmt.name, "schema": fmt.json_schema, "strict": fmt.strict}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            body["response_format"] = {"type": fmt.type}
    for key, value in (("temperature", request.temperature), ("top_p", request.top_p)):
        if value is not None:
            body[key] = value
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _function(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return function


# --- the codecs ----------------------------------------------------------------------------


class OpenAICodec:
    """OpenAI itself: Bearer key, ``{base_url}/chat/completions``."""

    name = "openai"
    usage_convention = OPENAI_USAGE
    max_tokens_field = "max_completion_tokens"
    key_header, key_prefix = "Authorization", "Bearer "

    def _url(self, endpoint: Endpoint, path: str) -> str:
        return f"{endpoint.base_url}/{path}"

    def _headers(self, endpoint: Endpoint, accept: str) -> dict[str, str]:
        defaults = {"Content-Type": "application/json", "Accept": accept}
        return request_headers(endpoint, defaults, self.key_header, self.key_prefix)

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequestSpec:
        """The POST for ``request``; raises ``InvalidRequestError`` for what the API cannot say."""
        body = _body(request, endpoint.model, self.max_tokens_field)
        accept = "text/event-stream" if request.stream else "application/json"
        return HttpRequestSpec(
            method="POST",
            url=self._url(endpoint, "chat/completions"),
            headers=self._headers(endpoint, accept),
            body=encode_body(body, endpoint),
        )

    def parse_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        """The response in a 2xx body; ``ServerError`` if the body is malformed."""
        return wire.parse_response(body, endpoint)

    def stream_decoder(self, endpoint: Endpoint) -> ChatCompletionsStreamDecoder:
        return ChatCompletionsStreamDecoder(endpoint)

    def parse_error(
        self, status: int, headers: Mapping[str, str], body: bytes, endpoint: Endpoint
    ) -> ProviderError:
        """The typed error for a non-2xx response; never contains the API key."""
        decoded = decode_or_none(wire.COMPLETION, body) if body.strip() else None
        fallback = status_message(status, body if decoded is None else b"", endpoint)
        return wire.build_error(status, headers, decoded, fallback, endpoint)

    def health_request(self, endpoint: Endpoint) -> HttpRequestSpec | None:
        """``GET {base_url}/models``: proves the host answers and takes the key."""
        return HttpRequestSpec(
            method="GET",
            url=self._url(endpoint, "models"),
            headers=self._headers(endpoint, "application/json"),
        )


class AzureOpenAICodec(OpenAICodec):
    """Azure OpenAI: ``api-key`` header, the deployment (our ``model``) in the path.

    The health request lists the resource's models (``/openai/models``): it proves the
    resource answers and takes the key, not that the deployment exists.
    """

    name = "azure"
    default_api_version = "2024-10-21"
    key_header, key_prefix = "api-key", ""

    def _url(self, endpoint: Endpoint, path: str) -> str:
        version = quote(endpoint.api_version or self.default_api_version, safe="")
        if path == "models":
            return f"{endpoint.base_url}/openai/models?api-version={version}"
        deployment = quote(endpoint.model, safe="")
        return f"{endpoint.base_url}/openai/deployments/{deployment}/{path}?api-version={version}"


class OpenAICompatibleCodec(OpenAICodec):
    """Any host speaking Chat Completions; ``base_url`` required, the key optional."""

    name = "openai-compatible"
    max_tokens_field = "max_tokens"  # max_completion_tokens is not understood everywhere


OPENAI = OpenAICodec()
AZURE = AzureOpenAICodec()
COMPATIBLE = OpenAICompatibleCodec()
CODEC = OPENAI
