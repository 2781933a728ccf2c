"""Incremental decoding of one Anthropic Messages event stream into stream events."""

from __future__ import annotations

from typing import Any

import msgspec

from hubactors.model._types import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    UsageEvent,
)
from hubactors.providers._sse import SSEEvent
from hubactors.providers.codecs._common import (
    Endpoint,
    decode,
    encode_arguments,
    parse_arguments,
    stream_interrupted,
    stream_start,
)
from hubactors.providers.codecs.anthropic._wire import (
    EVENT,
    WireBlock,
    WireDelta,
    WireErrorDetail,
    WireMessage,
    WireUsage,
    build_error,
    finish_reason,
    merge_usage,
    usage_from,
)


class _ToolBlock(msgspec.Struct):
    index: int
    id: str | None
    name: str
    start_input: Any
    json: list[str] = []


class AnthropicStreamDecoder:
    """Decodes one Messages event stream; ``message_stop`` is its terminal event.

    Tool-use inputs are assembled from ``input_json_delta`` fragments and parsed when their
    block stops (input that is not a JSON object, e.g. cut short by ``max_tokens``, is kept
    as ``{"_raw": text}``); ``server_tool_use`` blocks run on Anthropic's side and are left
    out.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._started = False
        self._done = False
        self._usage = WireUsage()
        self._stop_reason: str | None = None
        self._tools: dict[int, _ToolBlock] = {}
        self._calls = 0

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Events for one SSE event; an ``error`` event raises its typed ``ProviderError``."""
        if self._done:
            return []
        data = decode(EVENT, event.data, self._endpoint)
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            message = data.message or WireMessage()
            out.append(stream_start(self._endpoint, message.id, message.model))
        match data.type:
            case "message_start" if data.message is not None:
                self._usage = merge_usage(self._usage, data.message.usage or WireUsage())
            case "content_block_start" if data.content_block is not None:
                self._block_start(data.index, data.content_block, out)
            case "content_block_delta" if data.delta is not None:
                self._block_delta(data.index, data.delta, out)
            case "content_block_stop":
                self._block_stop(data.index, out)
            case "message_delta":
                if data.delta is not None and data.delta.stop_reason is not None:
                    self._stop_reason = data.delta.stop_reason
                if data.usage is not None:
                    self._usage = merge_usage(self._usage, data.usage)
            case "message_stop":
                out.extend(self._finish())
            case "error":
                detail = data.error or WireErrorDetail()
                raise build_error(
                    detail.type, detail.message, self._endpoint, request_id=data.request_id
                )
        return out

    def close(self) -> list[StreamEvent]:
        """Nothing if ``message_stop`` came; otherwise raises ``StreamInterruptedError``."""
        if self._done:
            return []
        raise stream_interrupted(self._endpoint, "the stream ended before message_stop")

    def _block_start(self, index: int, block: WireBlock, out: list[StreamEvent]) -> None:
        if block.type == "text" and block.text:
            out.append(TextDelta(block.text))
        elif block.type == "thinking" and block.thinking:
            out.append(ReasoningDelta(block.thinking))
        elif block.type == "tool_use":
            tool = _ToolBlock(self._calls, block.id, block.name or "", block.input)
            self._tools[index] = tool
            self._calls += 1
            out.append(ToolCallDelta(index=tool.index, id=tool.id, name=tool.name))

    def _block_delta(self, index: int, delta: WireDelta, out: list[StreamEvent]) -> None:
        if delta.type == "text_delta" and delta.text:
            out.append(TextDelta(delta.text))
        elif delta.type == "thinking_delta" and delta.thinking:
            out.append(ReasoningDelta(delta.thinking))
        elif delta.type == "input_json_delta" and delta.partial_json and index in self._tools:
            tool = self._tools[index]
            tool.json.append(delta.partial_json)
            out.append(ToolCallDelta(index=tool.index, arguments=delta.partial_json))

    def _block_stop(self, index: int, out: list[StreamEvent]) -> None:
        tool = self._tools.pop(index, None)
        if tool is None:
            return
        arguments = parse_arguments("".join(tool.json))
        if not tool.json and isinstance(tool.start_input, dict) and tool.start_input:
            arguments = tool.start_input
            out.append(ToolCallDelta(index=tool.index, arguments=encode_arguments(arguments)))
        call = ToolCall(id=tool.id, name=tool.name, arguments=arguments)
        out.append(ToolCallComplete(index=tool.index, tool_call=call))

    def _finish(self) -> list[StreamEvent]:
        self._done = True
        reason = finish_reason(self._stop_reason, self._calls > 0)
        return [
            UsageEvent(usage_from(self._usage)),
            Finish(finish_reason=reason, raw_finish_reason=self._stop_reason),
        ]
