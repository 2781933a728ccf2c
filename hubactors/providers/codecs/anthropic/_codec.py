"""The Anthropic Messages API codec (``POST /v1/messages``).

Mapping choices worth knowing:

- System messages are lifted into the top-level ``system`` field (several are joined with a
  blank line); consecutive messages of one role are merged because the API requires user
  and assistant turns to alternate; tool results travel as ``tool_result`` blocks of a user
  turn.
- ``max_tokens`` is required by the API: requests without one get :data:`DEFAULT_MAX_TOKENS`.
- Structured output (``response_format`` ``json_schema``) uses the generally available
  ``output_config.format = {"type": "json_schema", "schema": ...}``, the successor of the
  beta ``output_format`` field, and needs no beta header. ``json_object`` has no native
  equivalent: it becomes an instruction appended to the system prompt.
- Usage is reported as Anthropic counts it: ``input_tokens`` excludes the cache-read and
  cache-creation tokens, which are reported beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubactors._timing import parse_retry_after
from hubactors.errors import InvalidRequestError, ProviderError
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolCallPart,
    ToolResultPart,
)
from hubactors.providers._base import UsageConvention
from hubactors.providers.codecs._common import (
    Endpoint,
    HttpRequestSpec,
    decode,
    decode_or_none,
    encode_body,
    first_header,
    inline_data,
    request_headers,
    status_message,
)
from hubactors.providers.codecs.anthropic._stream import AnthropicStreamDecoder
from hubactors.providers.codecs.anthropic._wire import (
    EVENT,
    MESSAGE,
    WireErrorDetail,
    WireEvent,
    build_error,
    finish_reason,
    usage_from,
)

__all__ = ["CODEC", "AnthropicCodec", "AnthropicStreamDecoder"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

# --- request building ----------------------------------------------------------------------


def _image_block(part: ImagePart, field: str) -> dict[str, Any]:
    if part.data is not None:
        if not part.media_type:
            raise InvalidRequestError("inline image data needs a media_type", field=field)
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    elif part.url:
        inline = inline_data(part.url, field)
        if inline is not None:
            source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
        else:
            source = {"type": "url", "url": part.url}
    else:
        raise InvalidRequestError("an image needs a url or data", field=field)
    return {"type": "image", "source": source}


def _block(part: Any, role: str, field: str) -> dict[str, Any] | None:
    match part:
        case TextPart(text=text):
            return {"type": "text", "text": text} if text else None
        case ImagePart():
            return _image_block(part, field)
        case ToolCallPart(id=call_id, name=name, arguments=arguments) if role == "assistant":
            if not call_id:
                raise InvalidRequestError("Anthropic needs an id on every tool call", field=field)
            return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
        case ToolResultPart() if role != "assistant":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.tool_call_id,
                "content": part.content,
            }
            if part.is_error:
                block["is_error"] = True
            return block
    raise InvalidRequestError(f"a {role} message cannot carry this part", field=field)


def _messages(messages: list[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the alternating user/assistant turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role == "system":
            if any(not isinstance(p, TextPart) for p in message.parts):
                raise InvalidRequestError("system messages hold text only", field=f"messages[{i}]")
            if message.text:
                system.append(message.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [
            b
            for j, p in enumerate(message.parts)
            if (b := _block(p, message.role, f"messages[{i}].content[{j}]")) is not None
        ]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # The API wants a user turn's tool_result blocks before anything else in it.
        turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, turns


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None or not request.tools:
        return None
    if isinstance(choice, str):
        return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
    if all(tool.name != choice.name for tool in request.tools):
        raise InvalidRequestError(f"no tool named {choice.name!r}", field="tool_choice")
    return {"type": "tool", "name": choice.name}


def _body(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    system, turns = _messages(request.messages)
    fmt = request.response_format
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": turns,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.json_schema}}
    elif fmt is not None and fmt.type != "text":
        system.append(JSON_OBJECT_INSTRUCTION)
    if system:
        body["system"] = "\n\n".join(system)
    if request.tools:
        body["tools"] = [
            {"name": t.name, "input_schema": t.parameters}
            | ({"description": t.description} if t.description else {})
            | ({"strict": True} if t.strict else {})
            for t in request.tools
        ]
    if (choice := _tool_choice(request)) is not None:
        body["tool_choice"] = choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.stream:
        body["stream"] = True
    return body


def _headers(endpoint: Endpoint, *, json_body: bool = False) -> dict[str, str]:
    defaults = {"anthropic-version": endpoint.api_version or API_VERSION}
    if json_body:
        defaults["content-type"] = "application/json"
    return request_headers(endpoint, defaults, "x-api-key")


# --- the codec -----------------------------------------------------------------------------


class AnthropicCodec:
    """The Anthropic Messages wire format. Stateless; see the module docstring."""

    name = "anthropic"
    usage_convention = UsageConvention(input_includes_cached=False)

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequestSpec:
        """``POST {base}/v1/messages``; ``InvalidRequestError`` for what it cannot express."""
        return HttpRequestSpec(
            method="POST",
            url=f"{endpoint.base_url}/v1/messages",
            headers=_headers(endpoint, json_body=True),
            body=encode_body(_body(request, endpoint), endpoint),
        )

    def parse_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        """A Message body as a response; a malformed body raises ``ServerError``."""
        message = decode(MESSAGE, body, endpoint)
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            if block.type == "text" and block.text:
                text.append(block.text)
            elif block.type == "thinking" and block.thinking:
                reasoning.append(block.thinking)
            elif block.type == "tool_use":
                args = block.input if isinstance(block.input, dict) else {}
                calls.append(ToolCall(id=block.id, name=block.name or "", arguments=args))
        return ChatResponse(
            id=message.id,
            model=message.model,
            text="".join(text),
            tool_calls=calls,
            finish_reason=finish_reason(message.stop_reason, bool(calls)),
            raw_finish_reason=message.stop_reason,
            usage=usage_from(message.usage),
            reasoning="".join(reasoning) or None,
        )

    def stream_decoder(self, endpoint: Endpoint) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(endpoint)

    def parse_error(
        self, status: int, headers: Mapping[str, str], body: bytes, endpoint: Endpoint
    ) -> ProviderError:
        """``{"type": "error", "error": {"type", "message"}, "request_id"}`` as a typed error."""
        envelope = decode_or_none(EVENT, body) or WireEvent()
        detail = envelope.error or WireErrorDetail(message=status_message(status, body, endpoint))
        return build_error(
            detail.type,
            detail.message,
            endpoint,
            status=status,
            retry_after=parse_retry_after(headers),
            request_id=envelope.request_id or first_header(headers, "request-id"),
        )

    def health_request(self, endpoint: Endpoint) -> HttpRequestSpec:
        """``GET {base}/v1/models``: cheap, authenticated, no tokens spent."""
        return HttpRequestSpec(
            method="GET", url=f"{endpoint.base_url}/v1/models", headers=_headers(endpoint)
        )


CODEC = AnthropicCodec()
"""The module-level codec instance the registry looks up."""
