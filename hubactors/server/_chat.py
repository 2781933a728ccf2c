"""``POST /v1/chat/completions`` and ``POST /v1/messages``: one handler, two dialects.

A request is validated, checked against the route table, admitted by the drain, then
served by ``hub.complete`` or ``hub.stream``. Failures before the first byte of the answer
are an HTTP error in the dialect's shape; a stream failing after its first event ends
with the dialect's in-band error event (never a clean end that looks complete). A client
that disconnects cancels its request upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import msgspec
import trio
from loguru import logger

from hubactors import (
    ChatRequest,
    ChatResponse,
    Hub,
    HubClosedError,
    HubError,
    InvalidRequestError,
)
from hubactors.server import _anthropic, _openai
from hubactors.server._asgi import (
    BodyTooLarge,
    ClientDisconnected,
    Headers,
    Receive,
    Send,
    read_body,
    send_body,
    send_json,
    start_response,
    wait_for_disconnect,
)
from hubactors.server._errors import retry_after, shutting_down
from hubactors.server._lifecycle import Drain, Ticket
from hubactors.server._metrics import ServerMetrics

_decoder = msgspec.json.Decoder()


class StreamEncoder(Protocol):
    """Stream events in, the dialect's server-sent events out."""

    def feed(self, event: Any) -> list[bytes]: ...
    def end(self) -> list[bytes]: ...
    def error(self, exc: BaseException) -> list[bytes]: ...


class Dialect(Protocol):
    """What differs between the OpenAI and the Anthropic surface."""

    surface: str

    def parse(self, body: object) -> ChatRequest: ...
    def response(self, response: ChatResponse) -> dict[str, Any]: ...
    def error(self, exc: BaseException) -> tuple[int, dict[str, Any]]: ...
    def simple_error(self, status: int, message: str, code: str) -> dict[str, Any]: ...
    def encoder(self, body: dict[str, Any]) -> StreamEncoder: ...


class OpenAIDialect:
    surface = "openai"

    def parse(self, body: object) -> ChatRequest:
        return _openai.request_from_body(body)

    def response(self, response: ChatResponse) -> dict[str, Any]:
        return _openai.completion(response)

    def error(self, exc: BaseException) -> tuple[int, dict[str, Any]]:
        return _openai.error_body(exc)

    def simple_error(self, status: int, message: str, code: str) -> dict[str, Any]:
        return _openai.simple_error(status, message, code)

    def encoder(self, body: dict[str, Any]) -> StreamEncoder:
        return _openai.ChunkEncoder(include_usage=_openai.include_usage(body))


class AnthropicDialect:
    surface = "anthropic"

    def parse(self, body: object) -> ChatRequest:
        return _anthropic.request_from_body(body)

    def response(self, response: ChatResponse) -> dict[str, Any]:
        return _anthropic.message(response)

    def error(self, exc: BaseException) -> tuple[int, dict[str, Any]]:
        return _anthropic.error_body(exc)

    def simple_error(self, status: int, message: str, code: str) -> dict[str, Any]:
        return _anthropic.simple_error(status, message)

    def encoder(self, body: dict[str, Any]) -> StreamEncoder:
        return _anthropic.EventEncoder()


def _error_headers(exc: BaseException) -> Headers:
    seconds = retry_after(exc)
    return [] if seconds is None else [(b"retry-after", str(max(0, round(seconds))).encode())]


def _served_by(deployment: str) -> Headers:
    return [(b"x-hubactors-deployment", deployment.encode())] if deployment else []


class _Answer:
    """The response of one request, remembering whether its head went out."""

    def __init__(self, send: Send, dialect: Dialect) -> None:
        self.send = send
        self.dialect = dialect
        self.started = False
        self.finished = False  # the last byte is on its way: a disconnect now is the normal end
        self.encoder: StreamEncoder | None = None

    async def json(
        self, status: int, body: object, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        self.started = self.finished = True
        await send_json(self.send, status, body, headers)

    async def open_stream(self, encoder: StreamEncoder, deployment: str) -> None:
        self.started = True
        self.encoder = encoder
        headers = [(b"cache-control", b"no-cache"), *_served_by(deployment)]
        await start_response(self.send, 200, "text/event-stream", headers)

    async def chunks(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            await send_body(self.send, chunk, more=True)

    async def end(self) -> None:
        self.finished = True
        await send_body(self.send, b"", more=False)

    async def fail(self, exc: BaseException) -> None:
        if self.finished:
            return
        if self.encoder is not None:
            await self.chunks(self.encoder.error(exc))
            await self.end()
        elif not self.started:
            status, body = self.dialect.error(exc)
            await self.json(status, body, _error_headers(exc))


class ChatEndpoint:
    """Serves chat requests of either dialect on one hub."""

    def __init__(
        self,
        hub: Hub,
        drain: Drain,
        metrics: ServerMetrics,
        *,
        routes: frozenset[str],
        max_body_size: int,
    ) -> None:
        self._hub = hub
        self._drain = drain
        self._metrics = metrics
        self._routes = routes
        self._max_body_size = max_body_size

    async def handle(
        self, dialect: Dialect, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """Answer one request (``headers`` lower-cased); never raises for a bad request."""
        answer = _Answer(send, dialect)
        parsed = await self._parse(dialect, headers, receive, answer)
        if parsed is None:
            return
        body, request = parsed
        try:
            ticket = self._drain.admit()
        except HubClosedError as exc:
            await answer.fail(exc)
            return
        gauge = self._metrics.in_flight.labels(dialect.surface)
        gauge.inc()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, ticket, answer)
                await self._serve(request, body, ticket, answer)
                nursery.cancel_scope.cancel()
        finally:
            self._drain.release(ticket)
            gauge.dec()

    async def _parse(
        self, dialect: Dialect, headers: dict[str, str], receive: Receive, answer: _Answer
    ) -> tuple[dict[str, Any], ChatRequest] | None:
        """The body and the validated request, or ``None`` once an error was answered."""
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # Also what keeps browsers from posting here cross-site without a preflight.
            message = "the body must be JSON (Content-Type: application/json)"
            await answer.json(415, dialect.simple_error(415, message, "unsupported_media_type"))
            return None
        try:
            raw = await read_body(receive, self._max_body_size)
        except ClientDisconnected:
            return None
        except BodyTooLarge:
            message = f"the body is larger than {self._max_body_size} bytes"
            await answer.json(413, dialect.simple_error(413, message, "request_too_large"))
            return None
        try:
            body = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            await answer.fail(InvalidRequestError(f"the body is not valid JSON: {exc}"))
            return None
        try:
            request = dialect.parse(body)
        except InvalidRequestError as exc:
            await answer.fail(exc)
            return None
        if request.model not in self._routes:
            known = ", ".join(sorted(self._routes))
            message = f"the model {request.model!r} does not exist (known: {known})"
            await answer.json(404, dialect.simple_error(404, message, "model_not_found"))
            return None
        assert isinstance(body, dict)  # parse() accepted it
        return body, request

    async def _serve(
        self, request: ChatRequest, body: dict[str, Any], ticket: Ticket, answer: _Answer
    ) -> None:
        try:
            with ticket.scope:
                if request.stream:
                    await self._stream(request, body, answer)
                else:
                    response = await self._hub.complete(request)
                    payload = answer.dialect.response(response)
                    await answer.json(200, payload, _served_by(response.deployment))
        except HubError as exc:
            await answer.fail(exc)
        except Exception as exc:
            logger.exception("the {} endpoint failed", answer.dialect.surface)
            await answer.fail(exc)
        if ticket.scope.cancelled_caught and ticket.reason == "shutdown":
            await answer.fail(shutting_down())

    async def _stream(self, request: ChatRequest, body: dict[str, Any], answer: _Answer) -> None:
        encoder = answer.dialect.encoder(body)
        async with self._hub.stream(request) as events:
            await answer.open_stream(encoder, events.deployment)
            async for event in events:
                await answer.chunks(encoder.feed(event))
        await answer.chunks(encoder.end())
        await answer.end()


async def _cancel_on_disconnect(receive: Receive, ticket: Ticket, answer: _Answer) -> None:
    # The server also says "disconnect" once the response is complete: that one is no cancel
    # (cancelling then would also cancel the server's own bookkeeping of the connection).
    await wait_for_disconnect(receive)
    if not answer.finished:
        ticket.cancel("client")
