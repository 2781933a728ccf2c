"""Assemble a stream of events into the response it describes."""

from __future__ import annotations

from hubactors.model._types import (
    ChatResponse,
    Finish,
    FinishReason,
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


class StreamAccumulator:
    """Feed every event of one stream with :meth:`add`; :meth:`response` builds the result.

    Tool calls are taken from ``ToolCallComplete`` events (deltas are only tracked to keep
    the order of first appearance). ``finished`` is true once a ``Finish`` arrived.
    """

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.provider = ""
        self.deployment = ""
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, ToolCall] = {}
        self._order: list[int] = []
        self.usage = Usage()
        self.cost = 0.0
        self.finish: Finish | None = None
        self.content_seen = False

    @property
    def finished(self) -> bool:
        return self.finish is not None

    @property
    def text(self) -> str:
        return "".join(self._text)

    def add(self, event: StreamEvent) -> None:
        """Take one event into account."""
        match event:
            case TextDelta(text=text):
                self._text.append(text)
                self.content_seen = True
            case ReasoningDelta(text=text):
                self._reasoning.append(text)
                self.content_seen = True
            case ToolCallDelta(index=index):
                self.content_seen = True
                if index not in self._order:
                    self._order.append(index)
            case ToolCallComplete(index=index, tool_call=call):
                self.content_seen = True
                if index not in self._order:
                    self._order.append(index)
                self._calls[index] = call
            case UsageEvent(usage=usage, cost=cost):
                self.usage = usage
                if cost is not None:
                    self.cost = cost
            case Finish():
                self.finish = event
            case StreamStart():
                self.id = event.id or self.id
                self.model = event.model or self.model
                self.provider = event.provider or self.provider
                self.deployment = event.deployment or self.deployment

    def response(self) -> ChatResponse:
        """The response assembled so far (finish reason ``error`` if no ``Finish`` came)."""
        finish = self.finish
        return ChatResponse(
            id=self.id,
            model=self.model,
            text=self.text,
            tool_calls=[self._calls[i] for i in self._order if i in self._calls],
            finish_reason=finish.finish_reason if finish else FinishReason.ERROR,
            raw_finish_reason=finish.raw_finish_reason if finish else None,
            usage=self.usage,
            reasoning="".join(self._reasoning) or None,
            provider=self.provider,
            deployment=self.deployment,
            cost=self.cost,
        )
