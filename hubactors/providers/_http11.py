"""A lean HTTP/1.1 client on h11 and Trio streams, for the hot path to providers.

httpx (with httpcore) costs about 400 µs of CPU per request under Trio on this project's
benchmark machine -- more than the whole hub -- and its pool scans every connection on each
request. This client does only what a provider call needs: one origin, keep-alive
connections reused last-in first-out (O(1)), TLS through :class:`trio.SSLStream`, a connect
timeout, a response body read as it arrives. h11 does the protocol; nothing here parses HTTP.

It raises httpx's exception types (``ConnectError``, ``ConnectTimeout``, ``ReadError``,
``WriteError``, ``RemoteProtocolError``, ``LocalProtocolError``), so the transport maps one
set of failures whichever client carried the request. A request that fails on a reused
connection before any byte of its response arrived (the server closed an idle connection)
is sent once more on a new one, as httpcore does.

Not supported (the httpx client serves those): HTTP/2 and proxies.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import AsyncIterator, Mapping

import h11
import httpx
import trio

_READ_SIZE = 64 * 1024
_USER_AGENT = "hubactors"


class _Connection:
    """One keep-alive connection: a Trio stream and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=256 * 1024)
        self.idle_since = 0.0

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream)


class H11Response:
    """A response whose headers arrived; read its body with :meth:`aiter_bytes` and always
    :meth:`aclose` it (a fully read body gives the connection back to the pool)."""

    __slots__ = ("_client", "_connection", "_done", "_slot", "headers", "status_code")

    def __init__(
        self,
        client: H11Client,
        connection: _Connection,
        slot: object,
        status: int,
        headers: httpx.Headers,
    ) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self._slot = slot
        self._done = False
        self.status_code = status
        self.headers = headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body, as it arrives. Raises ``httpx.ReadError`` if the connection breaks and
        ``httpx.RemoteProtocolError`` for a malformed response."""
        connection = self._connection
        if connection is None:
            return
        while True:
            event = await _next_event(connection)
            if isinstance(event, h11.Data):
                if event.data:
                    yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                return

    async def aclose(self) -> None:
        """Release the connection: back to the pool after a complete exchange, else closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        client = self._client
        try:
            if not (self._done and client._keep(connection)):
                await connection.aclose()
                client._open -= 1
        finally:
            client._slots.release_on_behalf_of(self._slot)


class H11Client:
    """HTTP/1.1 to one origin over a bounded pool of keep-alive connections.

    ``max_connections`` bounds connections open at once (a request waits for one to free);
    idle ones are dropped after ``keepalive_expiry`` seconds (wall clock) or beyond
    ``max_keepalive_connections``. Safe to share between tasks of one Trio run.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int = 100,
        max_keepalive_connections: int = 100,
        keepalive_expiry: float = 30.0,
        connect_timeout: float | None = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = ssl_context if scheme == "https" else None
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal
        self._authority = shown if port in (80, 443) else f"{shown}:{port}"
        self._slots = trio.CapacityLimiter(max_connections)
        self._idle: list[_Connection] = []
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._connect_timeout = connect_timeout
        self._open = 0
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open now, idle or in use."""
        return self._open

    async def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float | None = None,
    ) -> H11Response:
        """Send one request and return once its response headers arrived.

        ``target`` is the path and query. Cancellation closes the connection in use.
        """
        if self._closed:
            raise httpx.ConnectError("the client is closed")
        token = object()
        try:
            self._slots.acquire_on_behalf_of_nowait(token)
        except trio.WouldBlock:
            await self._slots.acquire_on_behalf_of(token)
        try:
            request = _request(method, target, self._authority, headers, body)
            for _ in range(2):
                connection, reused = await self._connection(connect_timeout)
                try:
                    return await self._exchange(connection, request, body, token)
                except _Stale:
                    await connection.aclose()
                    self._open -= 1
                    if not reused:
                        raise httpx.RemoteProtocolError(
                            "the server closed the connection without a response"
                        ) from None
                except BaseException:
                    await connection.aclose()
                    self._open -= 1
                    raise
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            self._slots.release_on_behalf_of(token)
            raise

    async def aclose(self) -> None:
        """Close every idle connection; later requests fail."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()
            self._open -= 1

    # --- internals -------------------------------------------------------------------------

    async def _connection(self, connect_timeout: float | None) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < self._expiry:
                return connection, True
            await connection.aclose()
            self._open -= 1
        timeout = self._connect_timeout if connect_timeout is None else connect_timeout
        with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(self._host, self._port)
                if self._tls is not None:
                    tls = trio.SSLStream(
                        stream, self._tls, server_hostname=self._host, https_compatible=True
                    )
                    await tls.do_handshake()
                    stream = tls
            except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        if scope.cancelled_caught:
            raise httpx.ConnectTimeout(f"no connection within {timeout} s")
        self._open += 1
        return _Connection(stream), False

    async def _exchange(
        self, connection: _Connection, request: h11.Request, body: bytes, token: object
    ) -> H11Response:
        conn = connection.h11
        data = conn.send(request) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        try:
            await connection.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise _Stale from exc
        event = await _next_event(connection, stale_if_empty=True)
        while isinstance(event, h11.InformationalResponse):
            event = await _next_event(connection)
        assert isinstance(event, h11.Response)
        headers = httpx.Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers]
        )
        return H11Response(self, connection, token, event.status_code, headers)

    def _keep(self, connection: _Connection) -> bool:
        """Put a connection whose exchange completed back in the pool, if it may be reused."""
        conn = connection.h11
        if (
            self._closed
            or conn.our_state is not h11.DONE
            or conn.their_state is not h11.DONE
            or len(self._idle) >= self._max_idle
        ):
            return False
        conn.start_next_cycle()
        connection.idle_since = time.monotonic()
        self._idle.append(connection)
        return True


class _Stale(Exception):
    """A reused connection turned out closed before its response began."""


def _request(
    method: str, target: str, authority: str, headers: Mapping[str, str], body: bytes
) -> h11.Request:
    items = [("host", authority), ("user-agent", _USER_AGENT)]
    names = {"host", "user-agent", "content-length", "transfer-encoding"}
    for name, value in headers.items():
        lower = name.lower()
        if lower in names:
            continue
        items.append((name, value))
    items.append(("content-length", str(len(body))))
    try:
        return h11.Request(method=method, target=target, headers=items)
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc)) from exc


async def _next_event(connection: _Connection, *, stale_if_empty: bool = False) -> h11.Event:
    conn = connection.h11
    received_any = False
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        if event is h11.NEED_DATA:
            try:
                data = await connection.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                if stale_if_empty and not received_any:
                    raise _Stale from exc
                raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
            if not data and stale_if_empty and not received_any:
                raise _Stale
            received_any = received_any or bool(data)
            try:
                conn.receive_data(bytes(data))
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            continue
        if event is h11.PAUSED:
            raise httpx.RemoteProtocolError("the server sent more than one response")
        if isinstance(event, h11.ConnectionClosed):
            raise httpx.ReadError("the server closed the connection mid-response")
        assert not isinstance(event, type)
        return event
