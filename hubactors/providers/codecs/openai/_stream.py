"""Incremental decoding of one Chat Completions stream into stream events."""

from __future__ import annotations

from hubactors.errors import StreamInterruptedError
from hubactors.model._types import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from hubactors.providers._sse import SSEEvent
from hubactors.providers.codecs._common import (
    Endpoint,
    decode_or_none,
    parse_arguments,
    stream_interrupted,
    stream_start,
)
from hubactors.providers.codecs.openai._wire import (
    COMPLETION,
    WireMessage,
    WireToolCall,
    build_error,
    content_text,
    finish_reason,
    usage_from,
)


class _PendingCall:
    __slots__ = ("arguments", "id", "index", "name")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.name = ""
        self.arguments: list[str] = []


class ChatCompletionsStreamDecoder:
    """Decodes one Chat Completions stream (see the module docstring for the end rules)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._started = False
        self._done = False
        self._calls: dict[int, _PendingCall] = {}
        self._order: list[_PendingCall] = []
        self._last_key = 0
        self._usage: Usage | None = None
        self._raw_finish: str | None = None
        self._refused = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Events for one SSE event; raises the typed error for an error sent in the stream."""
        data = event.data.strip()
        if self._done or not data:
            return []
        if data == "[DONE]":
            return self._finish()
        chunk = decode_or_none(COMPLETION, data)
        if chunk is None:
            raise self._interrupted("malformed event in the stream")
        if chunk.error is not None:
            raise build_error(None, {}, chunk, "error in the stream", self._endpoint)
        out: list[StreamEvent] = []
        usage = usage_from(chunk.usage or (chunk.x_groq.usage if chunk.x_groq else None))
        if usage is not None:
            self._usage = usage  # Groq sends it on the finish chunk, OpenAI in a last chunk
        choice = next((c for c in chunk.choices or () if c.index == 0), None)
        if not self._started and (chunk.id or chunk.model or choice is not None):
            out.append(self._start(chunk.id or "", chunk.model or ""))
        if choice is not None:
            if choice.delta is not None:
                self._delta(choice.delta, out)
            if choice.finish_reason:
                self._raw_finish = choice.finish_reason
        return out

    def close(self) -> list[StreamEvent]:
        """End of input: the final events, or :class:`StreamInterruptedError` if unfinished."""
        if self._done:
            return []
        if self._raw_finish is not None:
            return self._finish()
        raise self._interrupted("stream ended before its terminal event")

    def _start(self, id: str, model: str) -> StreamStart:
        self._started = True
        return stream_start(self._endpoint, id, model)

    def _delta(self, delta: WireMessage, out: list[StreamEvent]) -> None:
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            out.append(ReasoningDelta(reasoning))
        text = content_text(delta.content)
        if delta.refusal:
            self._refused = True
            text += delta.refusal
        if text:
            out.append(TextDelta(text))
        for call in delta.tool_calls or ():
            event = self._tool_delta(call)
            if event is not None:
                out.append(event)

    def _tool_delta(self, wire: WireToolCall) -> ToolCallDelta | None:
        key = wire.index
        if key is None:  # hosts that omit index: a new id starts a new call
            last = self._calls.get(self._last_key)
            same = last is not None and (not wire.id or wire.id == last.id)
            key = self._last_key if same else -1 - len(self._order)
        call = self._calls.get(key)
        if call is None or (wire.id and call.id and wire.id != call.id):
            # A different id under a known index is a new call (hosts that reuse index 0).
            call = _PendingCall(len(self._order))
            self._calls[key] = call
            self._order.append(call)
        self._last_key = key
        name = (wire.function.name if wire.function else None) or None
        arguments = (wire.function.arguments if wire.function else None) or ""
        call.id = call.id or wire.id or None
        call.name = call.name or name or ""
        call.arguments.append(arguments)
        if not (wire.id or name or arguments):
            return None
        return ToolCallDelta(index=call.index, id=wire.id or None, name=name, arguments=arguments)

    def _finish(self) -> list[StreamEvent]:
        self._done = True
        out: list[StreamEvent] = [] if self._started else [self._start("", "")]
        for call in self._order:
            tool_call = ToolCall(
                id=call.id, name=call.name, arguments=parse_arguments("".join(call.arguments))
            )
            out.append(ToolCallComplete(index=call.index, tool_call=tool_call))
        if self._usage is not None:
            out.append(UsageEvent(self._usage))
        reason = finish_reason(self._raw_finish, bool(self._order), self._refused)
        out.append(Finish(finish_reason=reason, raw_finish_reason=self._raw_finish))
        return out

    def _interrupted(self, message: str) -> StreamInterruptedError:
        return stream_interrupted(self._endpoint, message)
