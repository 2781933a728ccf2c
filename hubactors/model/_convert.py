"""OpenAI-shaped dicts in, data-model Structs out (and a response back to OpenAI's shape).

Users paste Chat Completions payloads; :func:`request_from_openai` turns one into a validated
:class:`~hubactors.model._types.ChatRequest`. Every problem raises
:class:`~hubactors.errors.InvalidRequestError` whose ``field`` is the path in the dict the
user passed (``messages[0].content[1].image_url.url``, ``tools[0].function.name``); no
``KeyError``, ``TypeError`` or msgspec error gets out.

Top-level keys the hub has no use for (``seed``, ``user``, ``frequency_penalty``, ...) are
ignored and logged at debug level, or refused with ``strict=True``. Keys whose silent loss
would change the answer are always refused: ``n`` other than 1 (the hub returns one
choice) and the legacy ``functions``/``function_call``. Our own ``msgspec.to_builtins``
shapes (parts tagged by ``kind``, tools without the ``function`` wrapper) are accepted too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

import msgspec

from hubactors._logging import logger
from hubactors.model._convert_messages import convert_messages, messages_from_openai
from hubactors.model._types import (
    CacheControl,
    ChatRequest,
    ChatResponse,
    NamedToolChoice,
    ResponseFormat,
    Tool,
    ToolChoice,
    Usage,
)
from hubactors.model._validate import (
    ToolCallLedger,
    check_bool,
    check_encodable,
    check_int,
    check_max_tokens,
    check_metadata,
    check_number,
    check_schema,
    check_stop,
    check_str,
    check_temperature,
    check_timeout,
    check_tool_choice,
    check_tool_name,
    check_top_p,
    fail,
    validate_request,
)

__all__ = [
    "coerce_request",
    "messages_from_openai",
    "request_from_openai",
    "response_to_openai",
    "usage_to_openai",
]

_KNOWN_KEYS = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "response_format", "temperature", "top_p",
        "max_tokens", "max_completion_tokens", "stop", "stream", "stream_options", "metadata",
        "n", "timeout", "deadline", "priority", "cache",
    }
)  # fmt: skip
_LEGACY_KEYS = {
    "functions": "legacy functions are not supported; use tools",
    "function_call": "legacy function_call is not supported; use tool_choice",
}


def request_from_openai(data: Mapping[str, Any], *, strict: bool = False) -> ChatRequest:
    """Convert an OpenAI-shaped chat completion request into a validated :class:`ChatRequest`.

    Beside OpenAI's keys it reads ``timeout``, ``deadline`` and ``priority``. Unknown keys
    are ignored (logged at debug level) unless ``strict``, which refuses them. Raises
    :class:`InvalidRequestError` naming the offending field.
    """
    if not isinstance(data, Mapping):
        fail(None, f"a request must be an object, got {type(data).__name__}")
    _check_keys(data, strict)
    model = check_str(data.get("model"), "model")
    if data.get("messages") is None:
        fail("messages", "is required")
    messages = convert_messages(data["messages"], "messages", ToolCallLedger())
    if not messages:
        fail("messages", "must not be empty")
    tools = _tools(data.get("tools"))
    n = check_int(data.get("n"), "n")
    if n is not None and n != 1:
        fail("n", f"only n=1 is supported (the hub returns one choice), got {n}")
    request = ChatRequest(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(data.get("tool_choice"), {t.name for t in tools}),
        response_format=_response_format(data.get("response_format")),
        temperature=check_temperature(data.get("temperature")),
        top_p=check_top_p(data.get("top_p")),
        max_tokens=_max_tokens(data),
        stop=_stop(data.get("stop")),
        stream=check_bool(data.get("stream"), "stream"),
        metadata=_metadata(data.get("metadata")),
        cache=_cache_control(data),
        timeout=check_timeout(data.get("timeout")),
        deadline=check_number(data.get("deadline"), "deadline"),
        priority=check_int(data.get("priority"), "priority") or 0,
    )
    check_encodable(request)
    return request


def coerce_request(
    request: ChatRequest | Mapping[str, Any], *, strict: bool = False
) -> ChatRequest:
    """A validated :class:`ChatRequest` from one, or from an OpenAI-shaped dict.

    Raises :class:`InvalidRequestError` naming the offending field.
    """
    if isinstance(request, ChatRequest):
        validate_request(request)
        return request
    if isinstance(request, Mapping):
        return request_from_openai(request, strict=strict)
    fail(None, f"expected a ChatRequest or a mapping, got {type(request).__name__}")


def _check_keys(data: Mapping[str, Any], strict: bool) -> None:
    for key, reason in _LEGACY_KEYS.items():
        if data.get(key) is not None:
            fail(key, reason)
    unknown = [key for key in data if key not in _KNOWN_KEYS]
    if unknown and strict:
        fail(str(unknown[0]), "unsupported parameter")
    if unknown:
        logger.debug("request_from_openai ignored parameters: {}", unknown)


def _metadata(value: object) -> dict[str, str]:
    if isinstance(value, Mapping) and "cache" in value:
        value = {key: item for key, item in value.items() if key != "cache"}
    return {} if value is None else check_metadata(value)


_CACHE_FLAGS = ("skip", "store", "sampled")


def _cache_control(data: Mapping[str, Any]) -> CacheControl | None:
    """The request's cache controls: ``cache`` at the top, or under ``metadata`` (an object,
    or its JSON text since OpenAI's metadata values are strings); the top one wins."""
    value, field = data.get("cache"), "cache"
    metadata = data.get("metadata")
    if value is None and isinstance(metadata, Mapping) and "cache" in metadata:
        value, field = metadata["cache"], "metadata.cache"
        if isinstance(value, str):
            try:
                value = msgspec.json.decode(value)
            except msgspec.DecodeError:
                fail(field, "must be an object, or its JSON text")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        fail(field, f"must be an object, got {type(value).__name__}")
    for key in value:
        if key not in (*_CACHE_FLAGS, "ttl"):
            fail(f"{field}.{key}", "unknown cache control (skip, store, ttl, sampled)")
    flags = {key: check_bool(value.get(key), f"{field}.{key}") for key in _CACHE_FLAGS}
    ttl = check_number(value.get("ttl"), f"{field}.ttl")
    if ttl is not None and not (0 < ttl < float("inf")):
        fail(f"{field}.ttl", "must be a positive number of seconds")
    return CacheControl(
        skip=flags["skip"], store=value.get("store") is not False, ttl=ttl, sampled=flags["sampled"]
    )


def _max_tokens(data: Mapping[str, Any]) -> int | None:
    legacy = check_max_tokens(data.get("max_tokens"), "max_tokens")
    current = check_max_tokens(data.get("max_completion_tokens"), "max_completion_tokens")
    if legacy is not None and current is not None and legacy != current:
        fail("max_completion_tokens", f"is {current} but max_tokens is {legacy}; pass one")
    return current if current is not None else legacy


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [check_str(value, "stop")]
    return check_stop(list(value) if isinstance(value, tuple) else value)


def _tools(raw: object) -> list[Tool]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        fail("tools", f"must be a list, got {type(raw).__name__}")
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        tool, name_field = _tool(item, f"tools[{i}]")
        if tool.name in seen:
            fail(name_field, f"duplicate tool name {tool.name!r}")
        seen.add(tool.name)
        tools.append(tool)
    return tools


def _tool(item: object, field: str) -> tuple[Tool, str]:
    if not isinstance(item, Mapping):
        fail(field, f"must be a tool object, got {type(item).__name__}")
    function, prefix = _function_spec(item, field, "tools")
    kwargs: dict[str, Any] = {"name": check_tool_name(function.get("name"), f"{prefix}.name")}
    if function.get("description") is not None:
        kwargs["description"] = check_str(
            function["description"], f"{prefix}.description", empty=True
        )
    if function.get("parameters") is not None:
        kwargs["parameters"] = check_schema(function["parameters"], f"{prefix}.parameters")
    if function.get("strict") is not None:
        kwargs["strict"] = check_bool(function["strict"], f"{prefix}.strict")
    return Tool(**kwargs), f"{prefix}.name"


def _tool_choice(raw: object, names: set[str]) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        check_tool_choice(raw, names, "tool_choice", "tool_choice")
        return cast(ToolChoice, raw)
    if not isinstance(raw, Mapping):
        fail("tool_choice", f"must be a string or an object, got {type(raw).__name__}")
    function, prefix = _function_spec(raw, "tool_choice", "tool choices")
    choice = NamedToolChoice(check_str(function.get("name"), f"{prefix}.name"))
    check_tool_choice(choice, names, "tool_choice", f"{prefix}.name")
    return choice


def _function_spec(item: Mapping[str, Any], field: str, what: str) -> tuple[Mapping[str, Any], str]:
    """The function object of OpenAI's ``{"type": "function", "function": {...}}`` and its
    path; our own shape has no wrapper, so that is ``item`` itself."""
    if "function" not in item and "type" not in item:
        return item, field
    if item.get("type", "function") != "function":
        fail(f"{field}.type", f"only function {what} are supported, got {item.get('type')!r}")
    function = item.get("function")
    if not isinstance(function, Mapping):
        fail(f"{field}.function", "must be an object with a name")
    return function, f"{field}.function"


def _response_format(raw: object) -> ResponseFormat | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        fail("response_format", f"must be an object, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        fail("response_format.type", f"must be text, json_object or json_schema, got {kind!r}")
    spec = raw.get("json_schema")
    if isinstance(spec, Mapping) and ("schema" in spec or "name" in spec):
        # OpenAI nests name/schema/strict, and its strict defaults to false.
        prefix, schema, strict = "response_format.json_schema", spec.get("schema"), False
        name, schema_field = spec.get("name"), "response_format.json_schema.schema"
        strict_value = spec.get("strict")
    else:  # ours: json_schema is the schema itself; name and strict sit beside it
        prefix, schema, strict = "response_format", spec, True
        name, schema_field = raw.get("name", "response"), "response_format.json_schema"
        strict_value = raw.get("strict")
    if not isinstance(schema, dict):
        fail(schema_field, "a json_schema response format needs a schema object")
    return ResponseFormat(
        type="json_schema",
        name=check_tool_name(name, f"{prefix}.name"),
        json_schema=schema,
        strict=check_bool(strict_value, f"{prefix}.strict", strict),
    )


# --- the response --------------------------------------------------------------------------


def response_to_openai(response: ChatResponse, *, created: int | None = None) -> dict[str, Any]:
    """``response`` as an OpenAI ``chat.completion`` dict with one choice.

    ``created`` defaults to now (Unix seconds). Tool calls without an id get one derived
    from the response id; reasoning, when present, travels as ``reasoning_content`` (the
    key DeepSeek and vLLM use). Finish reasons map by value (``error`` is passed through).
    """
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.text if response.text or not response.tool_calls else None,
        "refusal": None,
    }
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{response.id}_{i}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": msgspec.json.encode(call.arguments).decode(),
                },
            }
            for i, call in enumerate(response.tool_calls)
        ]
    if response.reasoning:
        message["reasoning_content"] = response.reasoning
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": str(response.finish_reason),
                "logprobs": None,
            }
        ],
        "usage": usage_to_openai(response.usage),
    }


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """``usage`` as OpenAI's ``usage`` object (``prompt_tokens``, ``completion_tokens``, ...)."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
