"""The events of one streamed response, as the caller iterates them.

The driver opens an :class:`EventStream` on a deployment and reads it up to its first
content event (until then it may still fail over); the caller reads the rest, in its own
task, straight from the upstream response. A stream never ends silently short: a failure
after content raises :class:`~hubactors.errors.StreamInterruptedError` with the text
delivered so far.
"""

from __future__ import annotations

from typing import Protocol

import trio

from hubactors.errors import AttemptError, StreamInterruptedError, TotalTimeoutError
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import CONTENT_EVENTS, Finish, StreamEvent, Usage


class Upstream(Protocol):
    """What an :class:`EventStream` reads: a deployment's stream, or a cached one."""

    @property
    def deployment(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def next(self) -> StreamEvent: ...

    async def aclose(self) -> None: ...


class EventStream:
    """The events of one streamed response, as an async iterator.

    Before the first content event the driver may still fail over, so by the time the
    caller sees this object the stream has produced content (or finished). A failure after
    that -- the provider's error, the request's deadline, or an end without the terminal
    ``Finish`` -- raises :class:`~hubactors.errors.StreamInterruptedError` carrying the text
    delivered so far (not retryable: content already reached the caller). Leaving the
    ``async with hub.stream(...)`` block closes the upstream response.
    """

    def __init__(
        self, upstream: Upstream, deadline: float, started: float, *, cached: bool = False
    ) -> None:
        self.deployment = upstream.deployment
        self.provider = upstream.provider
        self.model = upstream.model
        self._upstream = upstream
        self._deadline = deadline
        self._started = started
        self._buffer: list[StreamEvent] = []
        self._seen = StreamAccumulator()  # what the caller has been handed so far
        self._closed = False
        self.ttft: float | None = None
        """Seconds from the request's start to its first content event."""
        self.cached = cached
        """True when the events are replayed from the response cache."""
        self.recorded: list[StreamEvent] | None = None
        """When a list, every event the caller is handed is appended (for the cache)."""

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

    async def open(self) -> None:
        """Read up to the first content event (or the end), buffering what came before.

        Raises the deployment's error if it failed before any content: the driver may fail
        over. The driver's own deadline scope bounds this.
        """
        while True:
            event = await self._upstream.next()
            self._buffer.append(event)
            if isinstance(event, (*CONTENT_EVENTS, Finish)):
                self.ttft = trio.current_time() - self._started
                return

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._buffer:
            event = self._buffer.pop(0)
        elif self.finished or self._closed:
            raise StopAsyncIteration
        else:
            event = await self._read()
        self._seen.add(event)
        if self.recorded is not None:
            self.recorded.append(event)
        return event

    async def _read(self) -> StreamEvent:
        try:
            return await self._upstream.next()
        except TotalTimeoutError as exc:
            raise self._interrupted(exc.message, exc) from exc
        except AttemptError as exc:
            message = exc.message
            if isinstance(exc, StreamInterruptedError):
                message = f"the stream broke off after content was delivered: {message}"
            else:
                message = f"the stream failed after content was delivered: {message}"
            raise self._interrupted(message, exc) from exc

    def _interrupted(self, message: str, cause: Exception) -> StreamInterruptedError:
        return StreamInterruptedError(
            message,
            deployment=self.deployment,
            status=getattr(cause, "status", None),
            retryable=False,
            partial_text=self._seen.text,
        )

    async def aclose(self) -> None:
        """Stop the stream: the upstream response is closed (a finished one is read to its
        end first, so that its connection can be reused)."""
        if self._closed:
            return
        self._closed = True
        await self._upstream.aclose()
