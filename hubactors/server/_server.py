"""``open_server``: the WebSocket endpoint and the HTTP surface of one hub, in one nursery.

Shutting down (leaving the block, or :meth:`Server.shutdown` on a signal) stops both
listeners at once, lets requests in flight finish within ``drain_grace``, cancels the rest
with an in-band error, closes every WebSocket with 1001 and waits for hypercorn to finish.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, cast
from urllib.parse import urlsplit

import hypercorn.trio
import trio
from hypercorn.config import Config as HypercornConfig
from loguru import logger

from hubactors import Hub
from hubactors.server._auth import Authenticator, is_loopback_address
from hubactors.server._config import ServerConfig
from hubactors.server._http import HttpApp
from hubactors.server._lifecycle import Drain
from hubactors.server._metrics import ServerMetrics
from hubactors.server._websocket import WebSocketEndpoint

CLOSE_TIMEOUT = 5.0
"""Seconds the closing of connections may take after the drain, before they are cut."""


class _ToLoguru(logging.Handler):
    """Hypercorn logs through the standard library; its warnings join ours."""

    def emit(self, record: logging.LogRecord) -> None:
        logger.opt(depth=6, exception=record.exc_info).log(record.levelname, record.getMessage())


def _hypercorn_logger() -> logging.Logger:
    log = logging.getLogger("hubactors.server.http")
    if not log.handlers:
        log.addHandler(_ToLoguru())
        log.setLevel(logging.WARNING)
        log.propagate = False
    return log


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Server:
    """A running server. Get one from :func:`open_server`.

    ``ws_port`` and ``http_port`` are the bound ports (useful with port 0), ``metrics`` the
    server's own registry, ``drain`` its requests in flight.
    """

    def __init__(self, hub: Hub, config: ServerConfig, token: str | None) -> None:
        self.hub = hub
        self.config = config
        self.host = config.host
        if token is None and not is_loopback_address(config.host):
            self.host = "127.0.0.1"
        self.token_required = token is not None
        self.metrics = ServerMetrics()
        self.drain = Drain()
        auth = Authenticator(token)
        self.websocket = WebSocketEndpoint(hub, config, auth, self.drain, self.metrics)
        self.http = HttpApp(hub, auth, self.drain, self.metrics, max_body_size=config.max_body_size)
        self.ws_port = 0
        self.http_port = 0
        self._stop_listening = trio.CancelScope()
        self._http_stop = trio.Event()
        self._closed = trio.Event()
        self._shutting_down = False

    @property
    def ws_url(self) -> str:
        return f"ws://{_bind(self.host, self.ws_port)}/"

    @property
    def http_url(self) -> str:
        return f"http://{_bind(self.host, self.http_port)}"

    async def shutdown(self, grace: float | None = None) -> None:
        """Drain and close: stop accepting, give requests in flight ``grace`` seconds
        (default ``drain_grace``), cancel the rest with an error, close every connection.

        Returns once everything is closed; calling it again waits for the first call.
        """
        if self._shutting_down:
            await self._closed.wait()
            return
        self._shutting_down = True
        self._stop_listening.cancel()
        self._http_stop.set()
        await self.drain.drain(self.config.drain_grace if grace is None else grace)
        self.websocket.close_all()
        await self._closed.wait()

    async def _serve_websocket(self, *, task_status: trio.TaskStatus[int]) -> None:
        async with trio.open_nursery() as connections:
            port = await connections.start(self._listen, connections)
            task_status.started(port)
        # Returns once the listener is stopped and every connection has closed.

    async def _listen(
        self, connections: trio.Nursery, *, task_status: trio.TaskStatus[int]
    ) -> None:
        # The connections live in their own nursery: stopping the listener leaves them be.
        with self._stop_listening:
            listeners = await trio.open_tcp_listeners(self.config.port, host=self.host)
            task_status.started(listeners[0].socket.getsockname()[1])
            await trio.serve_listeners(
                self.websocket.serve_stream, listeners, handler_nursery=connections
            )

    def _hypercorn_config(self) -> HypercornConfig:
        config = HypercornConfig()
        config.bind = [_bind(self.host, self.config.http_port)]
        config.accesslog = None
        config.errorlog = _hypercorn_logger()
        config.include_server_header = False
        # Our drain cuts streams at the grace; hypercorn's own deadline is the backstop.
        config.graceful_timeout = self.config.drain_grace + CLOSE_TIMEOUT
        return config

    async def _serve_http(self, *, task_status: trio.TaskStatus[int]) -> None:
        app = cast(Any, self.http)
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(
                partial(
                    hypercorn.trio.serve,
                    app,
                    self._hypercorn_config(),
                    shutdown_trigger=self._http_stop.wait,
                    mode="asgi",
                )
            )
            task_status.started(urlsplit(binds[0]).port or 0)


@asynccontextmanager
async def open_server(
    hub: Hub, config: ServerConfig | None = None, *, token: str | None = None
) -> AsyncIterator[Server]:
    """Serve ``hub`` over WebSocket and HTTP until the block exits (then drain and close).

    ``token`` is the bearer token clients must present; without one the server binds
    loopback only, whatever ``config.host`` says, and refuses requests that are not local.
    Cancelling the block cancels everything at once.
    """
    server = Server(hub, config or ServerConfig(), token)
    if token is None and server.host != server.config.host:
        logger.warning(
            "no token configured: listening on {} only, not {}", server.host, server.config.host
        )
    async with trio.open_nursery() as nursery:

        async def serve_all(*, task_status: trio.TaskStatus[None]) -> None:
            try:
                async with trio.open_nursery() as servers:
                    server.ws_port = await servers.start(server._serve_websocket)
                    server.http_port = await servers.start(server._serve_http)
                    task_status.started()
            finally:
                server._closed.set()

        await nursery.start(serve_all)
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + server.config.drain_grace + 2 * CLOSE_TIMEOUT
                await server.shutdown()
            nursery.cancel_scope.cancel()
