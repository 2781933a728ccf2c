"""The data model: requests, messages, responses and stream events.

Every type here is a msgspec ``Struct``: cheap to build, validated on decode, encodable to
JSON as is. Tagged unions (``kind`` for content parts, ``type`` for stream events) make the
variants explicit on the wire and in ``match`` statements.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant", "tool"]


class FinishReason(enum.StrEnum):
    """Why generation stopped, normalized across providers (the raw value is kept beside)."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


# --- content parts -------------------------------------------------------------------------


class TextPart(msgspec.Struct, frozen=True, tag="text", tag_field="kind"):
    """Plain text inside a message."""

    text: str


class ImagePart(msgspec.Struct, frozen=True, tag="image", tag_field="kind", kw_only=True):
    """An image, either by URL or inline as base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class ToolCallPart(msgspec.Struct, frozen=True, tag="tool_call", tag_field="kind", kw_only=True):
    """A tool call the assistant made earlier in the conversation."""

    id: str | None
    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


class ToolResultPart(
    msgspec.Struct, frozen=True, tag="tool_result", tag_field="kind", kw_only=True
):
    """The result of a tool call, sent back to the model."""

    tool_call_id: str
    content: str
    name: str | None = None
    is_error: bool = False


ContentPart = TextPart | ImagePart | ToolCallPart | ToolResultPart


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of a conversation.

    ``content`` is a string or a list of parts. Assistant tool calls travel as
    :class:`ToolCallPart` and tool results as :class:`ToolResultPart`, so every provider codec
    reads one shape. Use :func:`hubactors.messages_from_openai` to convert pasted
    OpenAI-shaped dicts.
    """

    role: Role
    content: str | list[ContentPart]
    name: str | None = None

    @property
    def text(self) -> str:
        """The concatenated text of the message (tool calls and images left out)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def parts(self) -> list[ContentPart]:
        """The content as a list of parts (a string becomes one :class:`TextPart`)."""
        if isinstance(self.content, str):
            return [TextPart(self.content)] if self.content else []
        return list(self.content)


# --- tools and output formats --------------------------------------------------------------


class Tool(msgspec.Struct, frozen=True, kw_only=True):
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    strict: bool | None = None


class NamedToolChoice(msgspec.Struct, frozen=True):
    """Force the model to call the tool with this name."""

    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class ResponseFormat(msgspec.Struct, frozen=True, kw_only=True):
    """Structured output: free text, any JSON object, or JSON matching ``json_schema``."""

    type: Literal["text", "json_object", "json_schema"] = "json_schema"
    name: str = "response"
    json_schema: dict[str, Any] | None = None
    strict: bool = True


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call in a reply; ``arguments`` is the parsed JSON object."""

    id: str | None
    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)


# --- requests and responses ----------------------------------------------------------------


class CacheControl(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the response cache treats one request (``{"cache": {...}}`` in a request dict).

    ``skip`` does not read the cache (the fresh answer is still stored unless ``store`` is
    false); ``store = False`` never writes it; ``ttl`` replaces the configured lifetime of
    the entry written, in seconds; ``sampled`` lets a request with ``temperature > 0`` be
    cached. None of these is part of the cache key.
    """

    skip: bool = False
    store: bool = True
    ttl: float | None = None
    sampled: bool = False


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A chat completion request addressed to a route (``model``) of the hub.

    ``timeout`` is the total budget in seconds for the request, retries and failover
    included; ``deadline`` is the same as an absolute ``trio.current_time()`` value and wins
    when both are given. ``priority`` orders queued requests (lower first).
    """

    model: str
    messages: list[Message]
    tools: list[Tool] = msgspec.field(default_factory=list)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = msgspec.field(default_factory=list)
    stream: bool = False
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    timeout: float | None = None
    deadline: float | None = None
    priority: int = 0
    cache: CacheControl | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token counts of one response, normalized across providers."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A finished completion, with where it was served and what it cost.

    ``cost`` is in US dollars; ``latency`` in seconds; ``attempts`` counts every try,
    failover included.
    """

    id: str
    model: str
    text: str = ""
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    finish_reason: FinishReason = FinishReason.STOP
    raw_finish_reason: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    reasoning: str | None = None
    provider: str = ""
    deployment: str = ""
    cost: float = 0.0
    latency: float = 0.0
    attempts: int = 1
    request_id: str = ""
    cached: bool = False


# --- stream events -------------------------------------------------------------------------


class StreamStart(msgspec.Struct, frozen=True, tag="start", tag_field="type", kw_only=True):
    """The stream is open: the first event of every stream."""

    id: str = ""
    model: str = ""
    provider: str = ""
    deployment: str = ""


class TextDelta(msgspec.Struct, frozen=True, tag="text", tag_field="type"):
    """A piece of answer text."""

    text: str


class ReasoningDelta(msgspec.Struct, frozen=True, tag="reasoning", tag_field="type"):
    """A piece of the model's reasoning (thinking) text."""

    text: str


class ToolCallDelta(
    msgspec.Struct, frozen=True, tag="tool_call_delta", tag_field="type", kw_only=True
):
    """A fragment of a tool call: ``index`` says which call, in order of first appearance."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ToolCallComplete(
    msgspec.Struct, frozen=True, tag="tool_call", tag_field="type", kw_only=True
):
    """A tool call whose arguments are complete and parsed."""

    index: int
    tool_call: ToolCall


class UsageEvent(msgspec.Struct, frozen=True, tag="usage", tag_field="type"):
    """Token usage (may come more than once; the last one counts), with its cost in US
    dollars once the hub has priced it."""

    usage: Usage
    cost: float | None = None


class Finish(msgspec.Struct, frozen=True, tag="finish", tag_field="type", kw_only=True):
    """Generation ended; always the last event of a successful stream."""

    finish_reason: FinishReason
    raw_finish_reason: str | None = None


StreamEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ToolCallDelta
    | ToolCallComplete
    | UsageEvent
    | Finish
)

CONTENT_EVENTS = (TextDelta, ReasoningDelta, ToolCallDelta, ToolCallComplete)
"""Events that carry content: once one reached the caller, a stream can no longer fail over."""
