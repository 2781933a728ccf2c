"""Incremental decoding of one Gemini ``streamGenerateContent?alt=sse`` stream."""

from __future__ import annotations

from typing import Any

import msgspec

from hubactors.errors import ServerError
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
    clean_message,
    decode,
    encode_arguments,
    error_kwargs,
    stream_interrupted,
    stream_start,
)
from hubactors.providers.codecs.gemini._partial_args import PartialArguments
from hubactors.providers.codecs.gemini._wire import (
    RESPONSE,
    WireFunctionCall,
    WirePart,
    WirePartialArg,
    WireUsage,
    blocked_error,
    build_error,
    finish_reason,
    usage_from,
)


class _OpenCall:
    __slots__ = ("arguments", "id", "index", "name")

    def __init__(self, index: int, call: WireFunctionCall) -> None:
        self.index = index
        self.id = call.id
        self.name = call.name or ""
        self.arguments = PartialArguments(call.args)


class GeminiStreamDecoder:
    """Decodes one ``streamGenerateContent?alt=sse`` stream.

    Every SSE event is a whole ``GenerateContentResponse``. Gemini sends no terminal event:
    the stream counts as complete once a chunk carried a ``finishReason``, and ``close``
    then returns the usage and the ``Finish``. Function calls usually arrive whole; Vertex
    AI may stream one call over several parts (``willContinue`` with ``partialArgs``),
    which are assembled here.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._started = False
        self._usage: WireUsage | None = None
        self._finish_reason: str | None = None
        self._open: _OpenCall | None = None
        self._calls = 0

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Events for one chunk; an error object or a blocked prompt raises a typed error."""
        if not event.data.strip():
            return []
        chunk = decode(RESPONSE, event.data, self._endpoint)
        if chunk.error is not None:
            raise build_error(chunk.error, self._endpoint, None, {})
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            model = chunk.model_version or self._endpoint.model
            out.append(stream_start(self._endpoint, chunk.response_id, model))
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        if not chunk.candidates:
            blocked = blocked_error(chunk.prompt_feedback, self._endpoint)
            if blocked is not None:
                raise blocked
            return out
        candidate = chunk.candidates[0]
        for part in candidate.content.parts if candidate.content else []:
            self._part(part, out)
        if candidate.finish_reason:
            self._finish_reason = candidate.finish_reason
        return out

    def close(self) -> list[StreamEvent]:
        """Usage and ``Finish``; ``StreamInterruptedError`` if no chunk had a finishReason."""
        if self._finish_reason is None:
            raise stream_interrupted(self._endpoint, "the stream ended before a finishReason")
        out: list[StreamEvent] = []
        self._complete(out)
        reason = finish_reason(self._finish_reason, self._calls > 0)
        out.append(UsageEvent(usage_from(self._usage)))
        out.append(Finish(finish_reason=reason, raw_finish_reason=self._finish_reason))
        return out

    def _part(self, part: WirePart, out: list[StreamEvent]) -> None:
        if part.function_call is not None:
            self._function_call(part.function_call, out)
            return
        if not part.text:
            return
        self._complete(out)
        if part.thought:
            out.append(ReasoningDelta(part.text))
        else:
            out.append(TextDelta(part.text))

    def _function_call(self, call: WireFunctionCall, out: list[StreamEvent]) -> None:
        if call.name:
            self._complete(out)
            self._open = _OpenCall(self._calls, call)
            self._calls += 1
            out.append(ToolCallDelta(index=self._open.index, id=call.id, name=call.name))
        elif self._open is None:
            return  # a continuation of nothing: there is no call to assemble it into
        elif call.args:
            self._open.arguments.value.update(call.args)
        for arg in call.partial_args or ():
            self._partial(self._open, arg)
        if not call.will_continue:
            self._complete(out)

    def _partial(self, call: _OpenCall, arg: WirePartialArg) -> None:
        value: Any
        if arg.string_value is not None:
            value, is_string = arg.string_value, True
        elif arg.number_value is not None:
            value, is_string = arg.number_value, False
        elif arg.bool_value is not None:
            value, is_string = arg.bool_value, False
        elif arg.null_value is not msgspec.UNSET:
            value, is_string = None, False
        else:
            return
        try:
            call.arguments.add(
                arg.json_path, value, is_string=is_string, will_continue=arg.will_continue
            )
        except ValueError as exc:
            raise ServerError(
                clean_message(
                    f"malformed partial arguments for {call.name}: {exc}", self._endpoint
                ),
                retryable=False,
                error_type="malformed_response",
                **error_kwargs(self._endpoint),
            ) from None

    def _complete(self, out: list[StreamEvent]) -> None:
        call, self._open = self._open, None
        if call is None:
            return
        arguments = call.arguments.value
        if arguments:
            out.append(ToolCallDelta(index=call.index, arguments=encode_arguments(arguments)))
        tool_call = ToolCall(id=call.id, name=call.name, arguments=arguments)
        out.append(ToolCallComplete(index=call.index, tool_call=tool_call))
