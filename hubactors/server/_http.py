"""The HTTP surface as an ASGI app: probes, metrics, models and the two chat dialects.

Served by hypercorn's trio worker. Every route but ``/healthz`` and ``/readyz`` checks the
bearer token (``Authorization: Bearer`` or ``x-api-key``); refusals come in the shape of
the route's dialect (Anthropic's for ``/v1/messages`` and for clients that send
``anthropic-version``, OpenAI's elsewhere).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from hubactors import Hub
from hubactors.server import _anthropic, _openai
from hubactors.server._asgi import (
    Message,
    Receive,
    Scope,
    Send,
    send_bytes,
    send_json,
    serve_lifespan,
)
from hubactors.server._auth import Authenticator, Verdict, header_map
from hubactors.server._chat import AnthropicDialect, ChatEndpoint, Dialect, OpenAIDialect
from hubactors.server._lifecycle import Drain
from hubactors.server._metrics import ServerMetrics
from hubactors.server._readiness import readiness

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

Route = Callable[[dict[str, str], Receive, Send], Awaitable[None]]


class _StatusRecorder:
    """Passes messages through, remembering the status sent."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class HttpApp:
    """The ASGI application of ``hubactors serve``'s HTTP port."""

    def __init__(
        self,
        hub: Hub,
        auth: Authenticator,
        drain: Drain,
        metrics: ServerMetrics,
        *,
        max_body_size: int,
    ) -> None:
        self._hub = hub
        self._auth = auth
        self._drain = drain
        self._metrics = metrics
        self._route_names = list(hub.config.route_table())
        self._chat = ChatEndpoint(
            hub, drain, metrics, routes=frozenset(self._route_names), max_body_size=max_body_size
        )
        self._openai = OpenAIDialect()
        self._anthropic = AnthropicDialect()
        # path -> (method, handler, needs the token)
        self._routes: dict[str, tuple[str, Route, bool]] = {
            "/healthz": ("GET", self._healthz, False),
            "/readyz": ("GET", self._readyz, False),
            "/metrics": ("GET", self._metrics_route, True),
            "/v1/models": ("GET", self._models, True),
            "/v1/chat/completions": ("POST", self._chat_completions, True),
            "/v1/messages": ("POST", self._messages, True),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # hypercorn closes a WebSocket it is not asked to accept
        path: str = scope["path"]
        route = self._routes.get(path)
        label = path if route is not None else "other"
        recorder = _StatusRecorder(send)
        started = trio.current_time()
        try:
            await self._dispatch(scope, route, receive, recorder)
        finally:
            self._metrics.http_requests.labels(label, str(recorder.status)).inc()
            self._metrics.http_duration.labels(label).observe(trio.current_time() - started)

    async def _dispatch(
        self, scope: Scope, route: tuple[str, Route, bool] | None, receive: Receive, send: Send
    ) -> None:
        headers = header_map(scope["headers"])
        dialect = self._dialect_for(scope["path"], headers)
        if route is None:
            body = dialect.simple_error(404, f"no route {scope['path']}", "not_found")
            await send_json(send, 404, body)
            return
        method, handler, protected = route
        if scope["method"] != method:
            body = dialect.simple_error(405, f"use {method}", "method_not_allowed")
            await send_json(send, 405, body, [(b"allow", method.encode())])
            return
        if protected:
            verdict = self._auth.check_http(headers)
            if verdict is Verdict.UNAUTHORIZED:
                body = dialect.simple_error(
                    401, "a valid bearer token is required", "invalid_api_key"
                )
                await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])
                return
            if verdict is Verdict.FORBIDDEN:
                message = "without a token the server only serves this machine"
                await send_json(send, 403, dialect.simple_error(403, message, "forbidden"))
                return
        await handler(headers, receive, send)

    def _dialect_for(self, path: str, headers: dict[str, str]) -> Dialect:
        if path == "/v1/messages" or "anthropic-version" in headers:
            return self._anthropic
        return self._openai

    # --- routes ----------------------------------------------------------------------------

    async def _healthz(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _readyz(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        if self._drain.draining:
            await send_json(send, 503, {"status": "draining", "reasons": ["shutting down"]})
            return
        ready, reasons = readiness(self._hub)
        if ready:
            await send_json(send, 200, {"status": "ready"})
        else:
            await send_json(send, 503, {"status": "unready", "reasons": reasons})

    async def _metrics_route(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        body = self._hub.metrics_bytes() + self._metrics.render()
        await send_bytes(send, 200, body, PROMETHEUS_TEXT)

    async def _models(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        if "anthropic-version" in headers:
            await send_json(send, 200, _anthropic.models(self._route_names))
        else:
            await send_json(send, 200, _openai.models(self._route_names))

    async def _chat_completions(
        self, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        await self._chat.handle(self._openai, headers, receive, send)

    async def _messages(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        await self._chat.handle(self._anthropic, headers, receive, send)
