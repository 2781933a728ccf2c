"""The HTTP transport shared by every real provider: ``HttpProvider``.

:class:`HttpProvider` drives one deployment with a codec over a client of the shared
:class:`~hubactors.providers._pool.ClientPool` (one per origin): it sends the codec's
request, maps failures to typed errors and enforces the timeouts
of :class:`~hubactors.config.TimeoutConfig` with Trio cancel scopes, so they run on the Trio
clock (and on ``MockClock`` in tests):

- ``connect``: opening the TCP/TLS connection (:class:`ConnectTimeoutError`);
- ``first_token``: response headers plus the first SSE event of a stream
  (:class:`FirstTokenTimeoutError`); a non-streaming provider sends its headers only once
  the whole answer is ready, so ``complete`` is bounded by ``attempt`` instead;
- ``idle``: the longest gap between two body chunks (:class:`StreamIdleTimeoutError`);
- ``attempt``: the whole attempt (:class:`AttemptTimeoutError`).

No error message, ``repr`` or log line contains the API key: transport messages are passed
through :func:`~hubactors.errors.redact`, and the hub scrubs the chained httpx error.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import msgspec
import trio

from hubactors.config import TimeoutConfig
from hubactors.errors import (
    AttemptTimeoutError,
    ConnectTimeoutError,
    FirstTokenTimeoutError,
    HubError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    StreamIdleTimeoutError,
    StreamInterruptedError,
    TotalTimeoutError,
    redact,
)
from hubactors.model._types import ChatRequest, ChatResponse, Finish, StreamEvent, Usage
from hubactors.providers._base import Pricing, StreamCancelledError
from hubactors.providers._pool import ClientPool, HttpClient, HttpResponse, TransportKind
from hubactors.providers._sse import SSEEvent, SSEParser
from hubactors.providers.codecs._common import Codec, Endpoint, HttpRequestSpec, api_key_of

HeadersCallback = Callable[[Mapping[str, str]], None]

_MAX_ERROR_BODY = 256 * 1024

DRAIN_BYTES = 64 * 1024
"""The most a finished stream's leftover body is read to keep its connection."""

DRAIN_SECONDS = 0.5
"""How long that read may take (the rest of a finished stream is normally already here)."""


class HttpProvider:
    """One deployment served over HTTP by ``codec``: implements the ``Provider`` protocol.

    ``on_headers`` is called with the headers of every response (rate-limit headers for
    the limiter). The pool is shared and not closed by :meth:`aclose`.
    """

    def __init__(
        self,
        codec: Codec,
        endpoint: Endpoint,
        pool: ClientPool,
        *,
        timeouts: TimeoutConfig | None = None,
        pricing: Pricing | None = None,
        http2: bool = False,
        transport: TransportKind = "auto",
        on_headers: HeadersCallback | None = None,
    ) -> None:
        self._codec = codec
        self._endpoint = endpoint
        self._pool = pool
        self._timeouts = timeouts or TimeoutConfig()
        self._pricing = pricing or Pricing()
        self._http2 = http2
        self._transport: TransportKind = transport
        # Every request of a deployment goes to its one origin: the client is looked up once.
        self._client: HttpClient | None = None
        self._on_headers = on_headers

    def __repr__(self) -> str:
        ep = self._endpoint
        return (
            f"HttpProvider(provider={ep.provider!r}, deployment={ep.deployment!r}, "
            f"model={ep.model!r})"
        )

    @property
    def kind(self) -> str:
        return self._endpoint.provider

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def pricing(self) -> Pricing:
        return self._pricing

    async def aclose(self) -> None:
        """Nothing to release: the client pool belongs to whoever created it."""

    def cost_of(self, usage: Usage) -> float:
        """The cost of ``usage``, billed the way this provider counts tokens."""
        return self._pricing.cost_of(usage, self._codec.usage_convention)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` without streaming and return the response.

        Raises a ``ProviderError`` subclass on any failure; on cancellation the connection
        is closed and ``Cancelled`` propagates.
        """
        spec = self._build(request, stream=False)
        start = trio.current_time()
        total = self._deadline(start, self._timeouts.attempt)
        async with AsyncExitStack() as stack:
            response = await self._open(stack, spec, total, AttemptTimeoutError, total)
            await self._raise_for_status(response, total)
            body = await self._read_body(response, total, limit=None)
        return self._codec.parse_response(body, self._endpoint)

    @asynccontextmanager
    async def open_stream(
        self, request: ChatRequest, *, deadline: float = math.inf
    ) -> AsyncIterator[SSEEventStream]:
        """Open a streamed completion; iterate the yielded events.

        Errors before the stream opens raise on entry; errors inside it raise from the
        iteration. Leaving the block closes the response: at once (the provider stops
        generating) unless the stream finished, in which case the rest of the body is read
        first (bounded in bytes and time) so the connection goes back to the pool. Reads
        after ``deadline`` (the request's) raise ``TotalTimeoutError``.
        """
        spec = self._build(request, stream=True)
        start = trio.current_time()
        total = self._deadline(start, self._timeouts.attempt)
        first = min(total, self._deadline(start, self._timeouts.first_token))
        async with AsyncExitStack() as stack:
            response = await self._open(stack, spec, first, FirstTokenTimeoutError, total)
            await self._raise_for_status(response, total)
            events = SSEEventStream(self, response, first, total, deadline)
            stack.push_async_callback(events.aclose)
            yield events

    async def health_check(self) -> None:
        """Return if the deployment answers its health request; raise ``ProviderError`` if not."""
        spec = self._codec.health_request(self._endpoint)
        if spec is None:
            return
        start = trio.current_time()
        total = self._deadline(start, self._timeouts.attempt)
        first = min(total, self._deadline(start, self._timeouts.first_token))
        async with AsyncExitStack() as stack:
            response = await self._open(stack, spec, first, FirstTokenTimeoutError, total)
            await self._raise_for_status(response, total)

    # --- internals ---------------------------------------------------------------------

    def _build(self, request: ChatRequest, *, stream: bool) -> HttpRequestSpec:
        """The codec's HTTP request, encoded once, here: whatever cannot be encoded is the
        request's :class:`InvalidRequestError`, raised before anything is sent."""
        if request.stream != stream:
            request = msgspec.structs.replace(request, stream=stream)
        try:
            return self._codec.build_request(request, self._endpoint)
        except (ValueError, TypeError, OverflowError, msgspec.EncodeError) as exc:
            raise InvalidRequestError(
                f"cannot be encoded for {self._endpoint.provider}: {exc}", field="request"
            ) from exc

    async def _raise_for_status(self, response: HttpResponse, total: float) -> None:
        """Raise the codec's typed error for a non-2xx response (its body read, capped)."""
        if response.is_success:
            return
        body = await self._read_body(response, total, limit=_MAX_ERROR_BODY)
        raise self._codec.parse_error(response.status_code, response.headers, body, self._endpoint)

    @staticmethod
    def _deadline(start: float, seconds: float | None) -> float:
        return math.inf if seconds is None else start + seconds

    def _error(self, cls: type[ProviderError], message: str, **kwargs: Any) -> ProviderError:
        return cls(
            redact(message, api_key_of(self._endpoint)),
            deployment=self._endpoint.deployment or None,
            provider=self._endpoint.provider,
            **kwargs,
        )

    def _mapped(self, exc: Exception, deadline: float, total: float, *, reading: bool) -> HubError:
        """The one place an httpx failure becomes our error (raised ``from`` it; the hub
        scrubs keys from the whole chain where errors leave it).

        What HTTP cannot carry (an illegal URL or header of ours) is the request's
        :class:`InvalidRequestError`: trying it elsewhere would fail the same way. A
        connect timeout is :class:`ConnectTimeoutError`; any other failure is
        :class:`ProviderConnectionError` before the response, :class:`StreamInterruptedError`
        while its body is read.
        """
        if isinstance(exc, httpx.LocalProtocolError | httpx.InvalidURL | ValueError | TypeError):
            return InvalidRequestError(
                f"cannot be sent to {self._endpoint.provider}: {exc}", field="request"
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return self._timeout(ConnectTimeoutError, deadline, total)
        detail = str(exc).strip()
        described = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        if reading:
            return self._error(StreamInterruptedError, f"response broke off ({described})")
        return self._error(ProviderConnectionError, f"connection failed ({described})")

    def _timeout(self, cls: type[ProviderError], deadline: float, total: float) -> ProviderError:
        """The timeout error for a wait that ended at ``deadline`` (``total`` if it was that)."""
        if cls is not ConnectTimeoutError and deadline >= total:
            cls = AttemptTimeoutError
        seconds: dict[type[ProviderError], tuple[str, float | None]] = {
            ConnectTimeoutError: ("connect", self._timeouts.connect),
            AttemptTimeoutError: ("attempt", self._timeouts.attempt),
            FirstTokenTimeoutError: ("first_token", self._timeouts.first_token),
            StreamIdleTimeoutError: ("idle", self._timeouts.idle),
        }
        name, value = seconds.get(cls, ("", None))
        return self._error(cls, f"no answer within the {name} timeout ({value} s)")

    async def _open(
        self,
        stack: AsyncExitStack,
        spec: HttpRequestSpec,
        deadline: float,
        timeout_error: type[ProviderError],
        total: float,
    ) -> HttpResponse:
        """Send ``spec`` and return the response once its headers arrived."""
        client = self._client
        if client is None:
            client = self._client = self._pool.get(
                spec.url,
                http2=self._http2,
                connect_timeout=self._timeouts.connect,
                transport=self._transport,
            )
        with trio.CancelScope(deadline=deadline) as scope:
            try:
                response = await client.send(
                    spec.method,
                    spec.url,
                    spec.headers,
                    spec.body,
                    connect_timeout=self._timeouts.connect,
                )
            except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
                raise self._mapped(exc, deadline, total, reading=False) from exc
            stack.push_async_callback(response.aclose)
        if scope.cancelled_caught:
            raise self._timeout(timeout_error, deadline, total)
        if self._on_headers is not None:
            self._on_headers(response.headers)
        return response

    async def _read_body(self, response: HttpResponse, total: float, *, limit: int | None) -> bytes:
        """The whole body (up to ``limit`` bytes), each gap bounded by the idle timeout."""
        parts: list[bytes] = []
        size = 0
        chunks = response.aiter_bytes()
        try:
            while limit is None or size < limit:
                deadline = self._idle_deadline(total)
                chunk = await self._next_chunk(chunks, deadline, total, StreamIdleTimeoutError)
                if chunk is None:
                    break
                parts.append(chunk)
                size += len(chunk)
        finally:
            await _aclose(chunks)
        return b"".join(parts)

    def _idle_deadline(self, total: float) -> float:
        return min(total, self._deadline(trio.current_time(), self._timeouts.idle))

    async def _next_chunk(
        self,
        chunks: AsyncIterator[bytes],
        deadline: float,
        total: float,
        timeout_error: type[ProviderError],
    ) -> bytes | None:
        """The next body chunk or ``None`` at its end; typed errors on timeout or breakage."""
        with trio.CancelScope(deadline=deadline):
            try:
                return await anext(chunks)
            except StopAsyncIteration:
                return None
            except httpx.HTTPError as exc:
                raise self._mapped(exc, deadline, total, reading=True) from exc
        # Only reached when the deadline cancelled the wait.
        raise self._timeout(timeout_error, deadline, total)


class SSEEventStream:
    """The events of one streamed response: body bytes -> SSE events -> stream events.

    An async iterator that reads the network only when the events of the last chunk are
    used up, under one cancel scope per read: the first-token, idle and attempt timeouts
    and the caller's ``deadline`` (then :class:`~hubactors.errors.TotalTimeoutError`).
    :meth:`cancel` stops a read in progress from another task
    (:class:`~hubactors.providers._base.StreamCancelledError`).
    """

    __slots__ = (
        "_body_read", "_cancelled", "_chunks", "_decoder", "_decoder_closed", "_first",
        "_parser", "_pending", "_provider", "_request_deadline", "_scope", "_seen_event", "_sse",
        "_total", "finished",
    )  # fmt: skip

    def __init__(
        self,
        provider: HttpProvider,
        response: HttpResponse,
        first: float,
        total: float,
        request_deadline: float,
    ) -> None:
        self._provider = provider
        self._chunks = response.aiter_bytes()
        self._parser = SSEParser()
        self._decoder = provider._codec.stream_decoder(provider._endpoint)
        self._pending: deque[StreamEvent] = deque()
        self._sse: deque[SSEEvent] = deque()
        self._first = first
        self._total = total
        self._request_deadline = request_deadline
        self._scope: trio.CancelScope | None = None
        self._seen_event = self._body_read = self._decoder_closed = self._cancelled = False
        self.finished = False
        """True once the provider's terminal event was decoded."""

    def __aiter__(self) -> SSEEventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        pending = self._pending
        while not pending:
            # One SSE event at a time, so what came before a bad event is delivered first.
            if self._sse:
                pending.extend(self._decoder.feed(self._sse.popleft()))
            elif self._body_read:
                if self._decoder_closed:
                    raise StopAsyncIteration
                self._decoder_closed = True
                pending.extend(self._decoder.close())
            else:
                chunk = await self._read()
                if chunk is None:
                    self._body_read = True
                    self._sse.extend(self._parser.close())
                elif events := self._parser.feed(chunk):
                    self._seen_event = True
                    self._sse.extend(events)
        event = pending.popleft()
        if isinstance(event, Finish):
            self.finished = True
        return event

    def cancel(self) -> None:
        """Stop the stream: a read in progress (or the next one) raises
        ``StreamCancelledError``."""
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()

    async def _read(self) -> bytes | None:
        provider = self._provider
        error: type[ProviderError]
        if self._seen_event:
            deadline, error = provider._idle_deadline(self._total), StreamIdleTimeoutError
        else:
            deadline, error = self._first, FirstTokenTimeoutError
        limit = min(deadline, self._request_deadline)
        if self._cancelled:
            raise StreamCancelledError("the stream was cancelled")
        with trio.CancelScope(deadline=limit) as scope:
            self._scope = scope
            try:
                return await anext(self._chunks)
            except StopAsyncIteration:
                return None
            except httpx.HTTPError as exc:
                raise provider._mapped(exc, deadline, self._total, reading=True) from exc
            finally:
                self._scope = None
        # Only reached when the scope was cancelled: by cancel(), or a deadline.
        if self._cancelled:
            raise StreamCancelledError("the stream was cancelled")
        if limit == self._request_deadline and limit < deadline:
            raise TotalTimeoutError("the request's deadline passed mid-stream")
        raise provider._timeout(error, deadline, self._total)

    async def aclose(self) -> None:
        """Release the body: read to its end first if the stream finished (bounded), so the
        connection can be reused."""
        if self.finished:
            await _drain(self._chunks)
        await _aclose(self._chunks)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what is left of a finished stream's body (a ``[DONE]`` line, the chunked
    terminator), so the client can put the connection back in the pool. Bounded: past
    :data:`DRAIN_BYTES` or :data:`DRAIN_SECONDS` the connection is dropped instead."""
    size = 0
    with trio.CancelScope(shield=True), trio.move_on_after(DRAIN_SECONDS):
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > DRAIN_BYTES:
                    return
        except httpx.HTTPError:
            return


async def _aclose(iterator: AsyncIterator[bytes]) -> None:
    """Finalize an httpx body iterator now rather than when it is garbage collected."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with trio.CancelScope(shield=True):
            await aclose()
