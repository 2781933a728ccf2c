"""The WebSocket endpoint: the handshake (auth, subprotocol) and the open connections.

trio-websocket parses the protocol; every accepted connection is a :class:`Connection`
running in a nursery the server owns, so a shutdown can close each one after its drain.
"""

from __future__ import annotations

import msgspec
import trio
from loguru import logger
from trio_websocket import WebSocketRequest, wrap_server_stream

from hubactors import Hub
from hubactors.server._auth import SUBPROTOCOL, Authenticator, Verdict, header_map
from hubactors.server._config import ServerConfig
from hubactors.server._connection import Connection
from hubactors.server._lifecycle import Drain
from hubactors.server._metrics import ServerMetrics

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client has to complete the opening handshake."""

_REFUSALS = {
    Verdict.UNAUTHORIZED: (401, "a valid bearer token is required"),
    Verdict.FORBIDDEN: (403, "without a token the server only serves this machine"),
}


def _refusal_body(message: str) -> bytes:
    return msgspec.json.encode({"error": {"type": "AuthenticationError", "message": message}})


class WebSocketEndpoint:
    """Handles the handshake of each new connection, then serves it until it closes."""

    def __init__(
        self,
        hub: Hub,
        config: ServerConfig,
        auth: Authenticator,
        drain: Drain,
        metrics: ServerMetrics,
    ) -> None:
        self._hub = hub
        self._config = config
        self._auth = auth
        self._drain = drain
        self._metrics = metrics
        self.connections: set[Connection] = set()
        self._closing = False

    async def serve_stream(self, stream: trio.SocketStream) -> None:
        """Serve one TCP connection: the handshake, then the protocol until it closes.

        Whatever goes wrong on one connection (even inside the WebSocket library) ends that
        connection only, never the server.
        """
        try:
            async with trio.open_nursery() as nursery:
                with trio.move_on_after(HANDSHAKE_TIMEOUT) as handshake:
                    request = await wrap_server_stream(
                        nursery, stream, max_message_size=self._config.max_frame_size
                    )
                if not handshake.cancelled_caught:
                    await self.handle(request)
                nursery.cancel_scope.cancel()  # the library's reader task
        except Exception as exc:
            logger.opt(exception=exc).debug("a WebSocket connection ended with an error")
        finally:
            await trio.aclose_forcefully(stream)

    async def handle(self, request: WebSocketRequest) -> None:
        """Refuse or accept a handshake, then serve the connection."""
        if self._drain.draining:
            self._metrics.handshakes.labels("draining").inc()
            await request.reject(503, body=_refusal_body("the server is shutting down"))
            return
        verdict = self._auth.check_websocket(
            header_map(request.headers), request.proposed_subprotocols
        )
        if verdict is not Verdict.ALLOWED:
            self._metrics.handshakes.labels(verdict.value).inc()
            status, message = _REFUSALS[verdict]
            headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await request.reject(status, extra_headers=headers, body=_refusal_body(message))
            return
        # Only ever select our own subprotocol: the token one must not be echoed back.
        offered = SUBPROTOCOL in request.proposed_subprotocols
        ws = await request.accept(subprotocol=SUBPROTOCOL if offered else None)
        self._metrics.handshakes.labels("accepted").inc()
        connection = Connection(ws, self._hub, self._config, self._drain, self._metrics)
        self.connections.add(connection)
        self._metrics.connections.inc()
        if self._closing:
            connection.close_soon()
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            self._metrics.connections.dec()

    def close_all(self) -> None:
        """Ask every open connection to close once its queued frames are written."""
        self._closing = True
        for connection in list(self.connections):
            connection.close_soon()
