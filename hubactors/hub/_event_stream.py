"""The events of one streamed response, as the caller iterates them.

The driver opens an :class:`EventStream` on a deployment's actor and reads it up to its
first content event (until then it may still fail over); the caller reads the rest. A stream
never ends silently short: a failure after content raises
:class:`~hubactors.errors.StreamInterruptedError` with the text delivered so far.
"""

from __future__ import annotations

import trio

from hubactors.actors import ActorRef, ActorStoppedError, Reply
from hubactors.deployment._actor import ProviderCall, StreamCall
from hubactors.errors import (
    HubClosedError,
    ProviderError,
    StreamInterruptedError,
    TotalTimeoutError,
)
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import (
    CONTENT_EVENTS,
    ChatRequest,
    Finish,
    StreamEvent,
    Usage,
)

STREAM_BUFFER = 64
"""Events buffered between a provider actor and a slow reader before upstream reads pause."""


class EventStream:
    """The events of one streamed response, as an async iterator.

    Before the first content event the driver may still fail over, so by the time the
    caller sees this object the stream has produced content (or finished). A failure after
    that raises :class:`~hubactors.errors.StreamInterruptedError` carrying the text
    delivered so far; a stream that ends without its terminal ``Finish`` does too.
    """

    def __init__(self, deployment: str, deadline: float) -> None:
        self.deployment = deployment
        self._deadline = deadline
        self._reply: Reply[None] = Reply()
        self._receive: trio.MemoryReceiveChannel[StreamEvent] | None = None
        self._buffer: list[StreamEvent] = []
        self._seen = StreamAccumulator()  # what the caller has been handed so far
        self._closed = False

    @property
    def finished(self) -> bool:
        """True once the terminal ``Finish`` event was read."""
        return self._seen.finished

    @property
    def usage(self) -> Usage:
        """The last usage the stream reported (zeros until it did)."""
        return self._seen.usage

    @property
    def cost(self) -> float:
        """The cost of that usage in US dollars."""
        return self._seen.cost

    async def open(
        self, actor: ActorRef[ProviderCall], request: ChatRequest, estimated_tokens: int
    ) -> None:
        """Start the stream and read up to its first content event (or its end).

        Raises the deployment's ``ProviderError`` if it failed before any content,
        ``TotalTimeoutError`` at the deadline, ``HubClosedError`` if the actor is gone.
        """
        send, receive = trio.open_memory_channel[StreamEvent](STREAM_BUFFER)
        self._receive = receive
        with trio.move_on_at(self._deadline) as scope:
            try:
                await actor.tell(
                    StreamCall(request, estimated_tokens, self._deadline, send, self._reply)
                )
            except ActorStoppedError:
                raise HubClosedError("the hub closed while serving the request") from None
            async for event in receive:
                self._buffer.append(event)
                if isinstance(event, (*CONTENT_EVENTS, Finish)):
                    return
            await self._ended()
        if scope.cancelled_caught:
            raise TotalTimeoutError(
                "no first token before the request's deadline", deployment=self.deployment
            )

    async def _ended(self) -> None:
        """The channel closed: raise what the actor reported, or an interruption."""
        await self._reply.wait()
        if not self.finished and not any(isinstance(e, Finish) for e in self._buffer):
            raise StreamInterruptedError(
                "the stream ended without its terminal event",
                deployment=self.deployment,
                partial_text=self._seen.text,
            )

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._buffer:
            event = self._buffer.pop(0)
        elif self.finished or self._closed or self._receive is None:
            raise StopAsyncIteration
        else:
            try:
                with trio.fail_at(self._deadline):
                    event = await self._receive.receive()
            except trio.EndOfChannel:
                await self._end_of_stream()
                raise StopAsyncIteration from None
            except trio.TooSlowError:
                raise StreamInterruptedError(
                    "the request's deadline passed mid-stream",
                    deployment=self.deployment,
                    partial_text=self._seen.text,
                ) from None
        self._seen.add(event)
        return event

    async def _end_of_stream(self) -> None:
        try:
            await self._reply.wait()
        except StreamInterruptedError as exc:
            exc.retryable = False  # content already reached the caller
            raise
        except ProviderError as exc:
            raise StreamInterruptedError(
                f"the stream failed after content was delivered: {exc.message}",
                deployment=self.deployment,
                status=exc.status,
                retryable=False,
                partial_text=self._seen.text,
            ) from exc
        if not self.finished:
            raise StreamInterruptedError(
                "the stream ended without its terminal event",
                deployment=self.deployment,
                retryable=False,
                partial_text=self._seen.text,
            )

    def close(self) -> None:
        """Stop the stream now (synchronous, so it also works while being cancelled)."""
        if self._closed:
            return
        self._closed = True
        if not self._reply.done:
            self._reply.abandon()
        if self._receive is not None:
            self._receive.close()

    async def aclose(self) -> None:
        """Stop the stream: the deployment's upstream request is closed at once."""
        self.close()
        await trio.lowlevel.checkpoint()
