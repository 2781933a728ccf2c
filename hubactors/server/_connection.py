"""One WebSocket client: many requests in flight, one bounded queue of frames to it.

Three tasks share a connection: the reader parses frames and starts a task per request,
the writer sends queued frames in order, the keep-alive pings. Every frame to the client
goes through a queue of ``send_queue`` frames; a request task that finds it full waits,
so it stops reading its stream, whose own bounded buffer then stops the upstream read: a
slow reader slows its streams down, it never makes the server buffer without bound.

A client that disconnects (or stops answering pings) cancels all its requests, and with
them their upstream calls. Closing for a protocol violation (a binary frame) does too; an
idle timeout closes a connection with nothing in flight.
"""

from __future__ import annotations

import contextlib

import msgspec
import trio
from loguru import logger
from trio_websocket import ConnectionClosed, WebSocketConnection

from hubactors import (
    ChatRequest,
    ChatResponse,
    Hub,
    HubError,
    InvalidRequestError,
    LocalRateLimitError,
    StreamAccumulator,
)
from hubactors.server._config import ServerConfig
from hubactors.server._errors import cancelled_error, shutting_down, wire_error
from hubactors.server._lifecycle import Drain, Ticket
from hubactors.server._metrics import ServerMetrics
from hubactors.server._protocol import (
    BadFrame,
    CancelFrame,
    ErrorFrame,
    EventFrame,
    RequestFrame,
    ResponseFrame,
    ServerFrame,
    encode_frame,
    parse_client_frame,
)

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
CLOSE_TIMEOUT = 5.0
"""Seconds a closing handshake (and the flush of queued frames before it) may take."""


class _ClientGone(Exception):
    """The connection closed under a request task."""


class Connection:
    """Serves the protocol on one accepted WebSocket; :meth:`run` returns when it closed."""

    def __init__(
        self,
        ws: WebSocketConnection,
        hub: Hub,
        config: ServerConfig,
        drain: Drain,
        metrics: ServerMetrics,
    ) -> None:
        self._ws = ws
        self._hub = hub
        self._config = config
        self._drain = drain
        self._metrics = metrics
        self._outbox_send, self._outbox = trio.open_memory_channel[tuple[str, str]](
            config.send_queue
        )
        self._requests: dict[str, Ticket] = {}
        self._reader = trio.CancelScope()
        self._close: tuple[int, str] = (GOING_AWAY, "server shutting down")
        self._queued = 0

    def close_soon(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> None:
        """Stop reading and close once the frames already queued are written (the drain
        has already finished or cut every request)."""
        self._close = (code, reason)
        self._reader.cancel()

    async def run(self) -> None:
        """Serve until the client leaves, the server closes the connection, or pings fail."""
        close: tuple[int, str] | None = None
        async with trio.open_nursery() as connection:
            connection.start_soon(self._keep_alive, connection.cancel_scope)
            async with trio.open_nursery() as writing:
                writing.start_soon(self._write_frames)
                async with self._outbox_send, trio.open_nursery() as requests:
                    close = await self._read_frames(requests)
                    # The client is gone or the server closes: nothing left can be answered.
                    requests.cancel_scope.cancel()
                # The writer flushes what is queued, but a reader that stalls gets no more time.
                writing.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT
            connection.cancel_scope.cancel()
        if close is not None:
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self._ws.aclose(*close)

    # --- reading ---------------------------------------------------------------------------

    async def _read_frames(self, requests: trio.Nursery) -> tuple[int, str] | None:
        """Read until the connection ends; return the close to send (``None``: none)."""
        with self._reader:
            while True:
                with trio.move_on_after(self._config.idle_timeout) as idle:
                    try:
                        message = await self._ws.get_message()
                    except ConnectionClosed:
                        return None
                if idle.cancelled_caught:
                    if not self._requests:
                        return (NORMAL_CLOSURE, "idle timeout")
                    continue
                if isinstance(message, bytes):
                    self._metrics.frames.labels("received", "binary").inc()
                    return (UNSUPPORTED_DATA, "binary frames are not supported; send JSON text")
                await self._dispatch(message, requests)
        return self._close

    async def _dispatch(self, message: str, requests: trio.Nursery) -> None:
        try:
            frame = parse_client_frame(message)
        except BadFrame as bad:
            self._metrics.frames.labels("received", "invalid").inc()
            await self._try_send(bad.frame())
            return
        if isinstance(frame, CancelFrame):
            self._metrics.frames.labels("received", "cancel").inc()
            # Unknown ids are ignored: the request may have just finished.
            ticket = self._requests.get(frame.id)
            if ticket is not None:
                ticket.cancel("client")
            return
        self._metrics.frames.labels("received", "request").inc()
        if frame.id in self._requests:
            # Answered without the id: the request in flight under it is not affected.
            message = f"a request with id {frame.id!r} is already in flight"
            error = InvalidRequestError(message, field="id")
            await self._try_send(ErrorFrame(None, wire_error(error)))
            return
        refusal = self._refusal(frame)
        if refusal is not None:
            await self._try_send(ErrorFrame(frame.id, wire_error(refusal)))
            return
        ticket = self._drain.admit()
        self._requests[frame.id] = ticket
        requests.start_soon(self._serve, frame, ticket)

    def _refusal(self, frame: RequestFrame) -> HubError | None:
        if len(self._requests) >= self._config.max_in_flight:
            limit = self._config.max_in_flight
            return LocalRateLimitError(
                f"too many requests in flight on this connection (limit {limit})"
            )
        if self._drain.draining:
            return shutting_down()
        return None

    # --- serving ---------------------------------------------------------------------------

    async def _serve(self, frame: RequestFrame, ticket: Ticket) -> None:
        gauge = self._metrics.in_flight.labels("websocket")
        gauge.inc()
        try:
            final = await self._outcome(frame, ticket)
        finally:
            # Released before the final frame is queued: a drain never waits on a slow reader.
            del self._requests[frame.id]
            self._drain.release(ticket)
            gauge.dec()
        if final is not None:
            await self._try_send(final)

    async def _outcome(self, frame: RequestFrame, ticket: Ticket) -> ServerFrame | None:
        """The final frame of a request (``None`` when the client is gone)."""
        final: ServerFrame | None = None
        with ticket.scope:
            try:
                final = ResponseFrame(frame.id, await self._answer(frame.id, frame.request))
            except HubError as exc:
                final = ErrorFrame(frame.id, wire_error(exc))
            except _ClientGone:
                return None
            except Exception as exc:
                logger.exception("request {!r} failed", frame.id)
                final = ErrorFrame(frame.id, wire_error(exc))
        if ticket.scope.cancelled_caught:
            if ticket.reason == "client":
                return ErrorFrame(frame.id, cancelled_error())
            return ErrorFrame(frame.id, wire_error(shutting_down()))
        return final

    async def _answer(self, id: str, request: ChatRequest) -> ChatResponse:
        if not request.stream:
            return await self._hub.complete(request)
        started = trio.current_time()
        accumulator = StreamAccumulator()
        async with self._hub.stream(request) as events:
            async for event in events:
                accumulator.add(event)
                await self._send(EventFrame(id, event))
        response = accumulator.response()
        return msgspec.structs.replace(
            response,
            latency=trio.current_time() - started,
            deployment=response.deployment or events.deployment,
        )

    # --- writing ---------------------------------------------------------------------------

    async def _send(self, frame: ServerFrame) -> None:
        """Queue a frame for the writer; waits while the queue is full (backpressure)."""
        try:
            await self._outbox_send.send((_KINDS[type(frame)], encode_frame(frame)))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise _ClientGone from None
        self._queued += 1
        self._metrics.queued.inc()

    async def _try_send(self, frame: ServerFrame) -> None:
        with contextlib.suppress(_ClientGone):
            await self._send(frame)

    async def _write_frames(self) -> None:
        sent = {kind: self._metrics.frames.labels("sent", kind) for kind in _KINDS.values()}
        async with self._outbox:
            try:
                async for kind, text in self._outbox:
                    self._queued -= 1
                    self._metrics.queued.dec()
                    await self._ws.send_message(text)
                    sent[kind].inc()
            except ConnectionClosed:
                pass
            finally:
                self._metrics.queued.dec(self._queued)
                self._queued = 0

    async def _keep_alive(self, connection: trio.CancelScope) -> None:
        while True:
            await trio.sleep(self._config.ping_interval)
            with trio.move_on_after(self._config.ping_timeout) as waited:
                try:
                    await self._ws.ping()
                except ConnectionClosed:
                    return
            if waited.cancelled_caught:
                logger.info(
                    "no pong within {}s: dropping the connection", self._config.ping_timeout
                )
                connection.cancel()
                return


_KINDS: dict[type[msgspec.Struct], str] = {
    EventFrame: "event",
    ResponseFrame: "response",
    ErrorFrame: "error",
}
