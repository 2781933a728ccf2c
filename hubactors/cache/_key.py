"""The cache key of a request: a stable hash of everything that changes the answer.

The route, the messages, the tools and tool choice, the response format and the sampling
parameters go in; how the answer is delivered (``stream``), when (``timeout``,
``deadline``, ``priority``), the caller's ``metadata`` (request ids) and the cache controls
stay out. The same logical request as a dict or as a ``ChatRequest`` is the same
``ChatRequest`` once converted, so it has the same key. ``KEY_VERSION`` is part of every
key: a release that changes what an entry holds changes it, and old entries are never
decoded as new ones.
"""

from __future__ import annotations

import hashlib

import msgspec

from hubactors.model._types import (
    ChatRequest,
    Message,
    ResponseFormat,
    Tool,
    ToolChoice,
)

KEY_VERSION = "v1"


class _Keyed(msgspec.Struct, frozen=True, array_like=True):
    """What the key hashes, in a fixed order."""

    route: str
    messages: list[Message]
    tools: list[Tool]
    tool_choice: ToolChoice | None
    response_format: ResponseFormat | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: list[str]


# Sorted keys: a tool's JSON schema or a call's arguments hash the same in any key order.
_ENCODER = msgspec.json.Encoder(order="sorted")


def cache_key(request: ChatRequest) -> str:
    """``v1:<sha256>`` of the normalized request (see the module docstring)."""
    keyed = _Keyed(
        route=request.model,
        messages=request.messages,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
        # 0 and 0.0 are one temperature (a dict may carry either).
        temperature=None if request.temperature is None else float(request.temperature),
        top_p=None if request.top_p is None else float(request.top_p),
        max_tokens=request.max_tokens,
        stop=request.stop,
    )
    digest = hashlib.sha256(_ENCODER.encode(keyed)).hexdigest()
    return f"{KEY_VERSION}:{digest}"
