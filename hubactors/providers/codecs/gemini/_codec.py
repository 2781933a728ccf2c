"""The Google Gemini API codec (``generateContent`` / ``streamGenerateContent?alt=sse``).

Mapping choices worth knowing:

- The API key travels in the ``x-goog-api-key`` header, never in the URL, so it stays out
  of access logs and error messages. ``Endpoint.api_version`` picks the API version
  (default ``v1beta``).
- Schemas are sent as JSON Schema: tools as ``parametersJsonSchema`` and structured output
  as ``responseJsonSchema`` (with ``responseMimeType: application/json``). Those fields take
  the JSON Schema callers already write for other providers (``additionalProperties``,
  ``anyOf``, type arrays), which the older OpenAPI-subset ``parameters``/``responseSchema``
  reject.
- A tool result becomes ``functionResponse {name, response: {"output": content}}`` (or
  ``{"error": content}`` when ``is_error``), the keys the API documents; the function name
  comes from the result, else from the earlier call with the same id.
- Our messages do not keep Gemini's opaque ``thoughtSignature``. Gemini 3 models refuse a
  history whose function calls lack one, so the first function call of each model turn
  carries the API's documented validator-skipping placeholder instead.
- Safety settings are left at the API's defaults: request metadata is str -> str and the
  endpoint has no field for them.
- Usage is reported as Gemini counts it: ``output_tokens`` is ``candidatesTokenCount`` and
  excludes ``thoughtsTokenCount``, reported as ``reasoning_tokens``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from hubactors.errors import InvalidRequestError, ProviderError, ServerError
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
    error_kwargs,
    inline_data,
    request_headers,
    status_message,
)
from hubactors.providers.codecs.gemini._stream import GeminiStreamDecoder
from hubactors.providers.codecs.gemini._wire import (
    ERROR_BODY,
    RESPONSE,
    WireError,
    WireResponse,
    blocked_error,
    build_error,
    finish_reason,
    usage_from,
)

__all__ = ["CODEC", "GeminiCodec", "GeminiStreamDecoder"]

DEFAULT_API_VERSION = "v1beta"
SIGNATURE_PLACEHOLDER = "skip_thought_signature_validator"

# --- request building ----------------------------------------------------------------------


def _image(part: ImagePart, field: str) -> dict[str, Any]:
    if part.data is not None:
        if not part.media_type:
            raise InvalidRequestError("inline image data needs a media_type", field=field)
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if not part.url:
        raise InvalidRequestError("an image needs a url or data", field=field)
    inline = inline_data(part.url, field)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    file: dict[str, str] = {"fileUri": part.url}
    if part.media_type:
        file["mimeType"] = part.media_type
    return {"fileData": file}


class _History:
    """Converts messages in order, remembering each call's name for the results that follow."""

    def __init__(self) -> None:
        self.system: list[str] = []
        self.contents: list[dict[str, Any]] = []
        self._names_by_id: dict[str, str] = {}
        self._names: set[str] = set()

    def add(self, message: Message, i: int) -> None:
        if message.role == "system":
            if any(not isinstance(p, TextPart) for p in message.parts):
                raise InvalidRequestError("system messages hold text only", field=f"messages[{i}]")
            if message.text:
                self.system.append(message.text)
            return
        role = "model" if message.role == "assistant" else "user"
        parts = [
            p
            for j, part in enumerate(message.parts)
            if (p := self._part(part, message.role, f"messages[{i}].content[{j}]")) is not None
        ]
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})

    def _part(self, part: Any, role: str, field: str) -> dict[str, Any] | None:
        match part:
            case TextPart(text=text):
                return {"text": text} if text else None
            case ImagePart():
                return _image(part, field)
            case ToolCallPart(id=call_id, name=name, arguments=arguments) if role == "assistant":
                call: dict[str, Any] = {"name": name, "args": arguments}
                if call_id:
                    call["id"] = call_id
                    self._names_by_id[call_id] = name
                self._names.add(name)
                return {"functionCall": call}
            case ToolResultPart() if role != "assistant":
                return {"functionResponse": self._result(part, field)}
        raise InvalidRequestError(f"a {role} message cannot carry this part", field=field)

    def _result(self, part: ToolResultPart, field: str) -> dict[str, Any]:
        call_id = part.tool_call_id
        name = part.name or self._names_by_id.get(call_id)
        if name is None and call_id in self._names:
            name = call_id  # callers of id-less Gemini calls often use the name as the id
        if name is None:
            raise InvalidRequestError(
                f"no earlier tool call with id {call_id!r}: give the result a name", field=field
            )
        key = "error" if part.is_error else "output"
        result: dict[str, Any] = {"name": name, "response": {key: part.content}}
        if call_id in self._names_by_id:
            result["id"] = call_id
        return result

    def sign_calls(self) -> None:
        for content in self.contents:
            if content["role"] != "model":
                continue
            first = next((p for p in content["parts"] if "functionCall" in p), None)
            if first is not None:
                first["thoughtSignature"] = SIGNATURE_PLACEHOLDER


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None or not request.tools:
        return None
    if isinstance(choice, str):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if all(tool.name != choice.name for tool in request.tools):
        raise InvalidRequestError(f"no tool named {choice.name!r}", field="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.json_schema is not None:
            config["responseJsonSchema"] = fmt.json_schema
    return config


def _body(request: ChatRequest) -> dict[str, Any]:
    history = _History()
    for i, message in enumerate(request.messages):
        history.add(message, i)
    history.sign_calls()
    body: dict[str, Any] = {"contents": history.contents}
    if history.system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(history.system)}]}
    if request.tools:
        declarations = [
            {"name": t.name, "parametersJsonSchema": t.parameters}
            | ({"description": t.description} if t.description else {})
            for t in request.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    if (tool_config := _tool_config(request)) is not None:
        body["toolConfig"] = tool_config
    if config := _generation_config(request):
        body["generationConfig"] = config
    return body


def _root(endpoint: Endpoint) -> str:
    return f"{endpoint.base_url}/{endpoint.api_version or DEFAULT_API_VERSION}"


def _headers(endpoint: Endpoint, *, json_body: bool = False) -> dict[str, str]:
    defaults = {"content-type": "application/json"} if json_body else {}
    return request_headers(endpoint, defaults, "x-goog-api-key")


# --- the codec -----------------------------------------------------------------------------


class GeminiCodec:
    """The Gemini ``generateContent`` wire format. Stateless; see the module docstring."""

    name = "gemini"
    usage_convention = UsageConvention(output_includes_reasoning=False)

    def build_request(self, request: ChatRequest, endpoint: Endpoint) -> HttpRequestSpec:
        """``POST {base}/{version}/models/{model}:generateContent`` (``stream...?alt=sse``).

        Raises ``InvalidRequestError`` for what the API cannot express (e.g. a tool result
        whose function name cannot be found).
        """
        model = urllib.parse.quote(endpoint.model.removeprefix("models/"), safe="-._~@")
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return HttpRequestSpec(
            method="POST",
            url=f"{_root(endpoint)}/models/{model}:{method}",
            headers=_headers(endpoint, json_body=True),
            body=encode_body(_body(request), endpoint),
        )

    def parse_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        """The first candidate as a response.

        Raises ``ContentFilterError`` when the prompt was blocked (``promptFeedback``), a
        typed ``ProviderError`` for an error object, ``ServerError`` for a malformed body.
        """
        response = decode(RESPONSE, body, endpoint)
        if response.error is not None:
            raise build_error(response.error, endpoint, None, {})
        if not response.candidates:
            blocked = blocked_error(response.prompt_feedback, endpoint)
            if blocked is not None:
                raise blocked
            raise ServerError("Gemini returned no candidates", **error_kwargs(endpoint))
        candidate = response.candidates[0]
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        for part in candidate.content.parts if candidate.content else []:
            if part.function_call is not None:
                fc = part.function_call
                calls.append(ToolCall(id=fc.id, name=fc.name or "", arguments=fc.args or {}))
            elif part.text:
                (reasoning if part.thought else text).append(part.text)
        return ChatResponse(
            id=response.response_id,
            model=response.model_version or endpoint.model,
            text="".join(text),
            tool_calls=calls,
            finish_reason=finish_reason(candidate.finish_reason, bool(calls)),
            raw_finish_reason=candidate.finish_reason,
            usage=usage_from(response.usage_metadata),
            reasoning="".join(reasoning) or None,
        )

    def stream_decoder(self, endpoint: Endpoint) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(endpoint)

    def parse_error(
        self, status: int, headers: Mapping[str, str], body: bytes, endpoint: Endpoint
    ) -> ProviderError:
        """``{"error": {"code", "message", "status", "details"}}`` as a typed error."""
        parsed = decode_or_none(ERROR_BODY, body) or WireResponse()
        if isinstance(parsed, list):
            parsed = parsed[0] if parsed else WireResponse()
        error = parsed.error or WireError(message=status_message(status, body, endpoint))
        return build_error(error, endpoint, status, headers)

    def health_request(self, endpoint: Endpoint) -> HttpRequestSpec:
        """``GET {base}/{version}/models`` with the key header."""
        return HttpRequestSpec(
            method="GET", url=f"{_root(endpoint)}/models", headers=_headers(endpoint)
        )


CODEC = GeminiCodec()
"""The module-level codec instance the registry looks up."""
