"""The clients of the server targets, run by ``_clients.py`` in a fresh process each, under
asyncio, as users of these libraries write them.

- ``sdk-direct``: the official ``openai`` package's ``AsyncOpenAI`` with ``base_url`` the
  mock upstream, ``chat.completions.create`` with and without ``stream=True``;
- ``sdk-server``: the same client with ``base_url`` the HTTP port of ``hubactors serve``;
- ``ws``: the ``websockets`` library on the WebSocket port of ``hubactors serve``, the JSON
  protocol of ``docs/server.md``: ``concurrency`` workers share ``ceil(concurrency /
  per_connection)`` connections, each worker one request in flight at a time.

The spec's ``server`` gives the server's ``pid`` (its CPU time and peak RSS are read from
``/proc`` at the bounds of the measured window), ``http_port`` and ``ws_port``. ``ws-soak``
keeps ``streams`` WebSocket streams going for ``duration`` seconds, counting only.
Every request is bounded by ``REQUEST_TIMEOUT``, every loop by a deadline and a count.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from typing import Any

import _server
from _clients import (
    MESSAGES,
    REQUEST_TIMEOUT,
    Call,
    asyncio_measure,
    asyncio_phase,
    cpu_seconds,
    peak_rss_mb,
)

API_KEY = "bench-key-not-secret"
SUBPROTOCOL = "hubactors.v1"
CONNECT_BATCH = 100
"""WebSocket connections opened at once (the soak opens up to a thousand)."""


def sdk_calls(client: Any) -> tuple[Call, Call]:
    """Chat Completions through the OpenAI SDK, as its documentation writes them."""
    model = _server.MODEL

    async def complete() -> float | None:
        response = await client.chat.completions.create(model=model, messages=MESSAGES)
        if not response.choices[0].message.content:
            raise ValueError("empty completion")
        return None

    async def stream() -> float | None:
        first: float | None = None
        chunks = await client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in chunks:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        return first

    return complete, stream


class ProtocolError(Exception):
    """The server answered a request with an error frame, or the connection closed."""


class WsConnection:
    """One WebSocket of the hub's protocol: requests multiplexed by id, one reader task
    routing each frame to the request it answers."""

    _closed_frame: dict[str, Any] = {"type": "closed"}

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._pending: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self.closed = False
        self.stray_errors = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                queue = self._pending.get(frame.get("id"))
                if queue is not None:
                    queue.put_nowait(frame)
                elif frame.get("type") == "error":
                    self.stray_errors += 1  # an error for no request of ours: counted
        except Exception:
            pass  # the connection is gone: its requests say so below
        finally:
            self.closed = True
            for queue in self._pending.values():
                queue.put_nowait(self._closed_frame)

    async def request(self, body: dict[str, Any]) -> float | None:
        """Send one request and read its frames to the final one; the time of the first
        content event (streams), else None. Raises ProtocolError on an error frame."""
        if self.closed:
            raise ProtocolError("the connection is closed")
        id = str(next(self._ids))
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._pending[id] = queue
        first: float | None = None
        try:
            await self.ws.send(json.dumps({"type": "request", "id": id, "request": body}))
            while True:
                frame = await queue.get()
                kind = frame["type"]
                if kind == "event":
                    event = frame["event"]
                    if first is None and event["type"] == "text" and event["text"]:
                        first = time.perf_counter()
                elif kind == "response":
                    if not frame["response"]["text"]:
                        raise ValueError("empty completion")
                    return first
                elif kind == "error":
                    error = frame["error"]
                    raise ProtocolError(f"{error['type']}: {error['message']}")
                else:
                    raise ProtocolError("the connection closed mid-request")
        finally:
            del self._pending[id]

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


async def open_connections(url: str, count: int) -> list[WsConnection]:
    """``count`` connections offering the protocol's subprotocol, opened in batches."""
    from websockets.asyncio.client import connect

    async def one() -> WsConnection:
        ws = await connect(url, subprotocols=[SUBPROTOCOL], proxy=None, open_timeout=60)
        return WsConnection(ws)

    connections: list[WsConnection] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = min(CONNECT_BATCH, count - start)
        connections += await asyncio.gather(*(one() for _ in range(batch)))
    return connections


def ws_calls(connections: list[WsConnection], per_connection: int, stream: bool) -> Call:
    """A call that sends its request on a connection with a free slot: each connection
    carries at most ``per_connection`` requests at once (the server refuses more than its
    ``max_in_flight``)."""
    body = {"model": _server.MODEL, "messages": MESSAGES, "stream": stream}
    free: asyncio.Queue[WsConnection] = asyncio.Queue()
    for connection in connections:
        for _ in range(per_connection):
            free.put_nowait(connection)

    async def call() -> float | None:
        connection = await free.get()
        try:
            return await connection.request(body)
        finally:
            free.put_nowait(connection)

    return call


async def close_all(connections: list[WsConnection]) -> None:
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


async def run_target(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run of ``sdk-direct``, ``sdk-server`` or ``ws``."""
    target, streaming = spec["target"], spec["mode"] == "stream"
    if target == "ws":
        per_connection = spec.get("ws_per_connection", 1)
        count = math.ceil(spec["concurrency"] / per_connection)
        connections = await open_connections(spec["server"]["ws_url"], count)
        try:
            out = await asyncio_measure(spec, ws_calls(connections, per_connection, streaming))
        finally:
            await close_all(connections)
        out["ws_connections"] = count
        return out
    from openai import AsyncOpenAI

    port = spec["port"] if target == "sdk-direct" else spec["server"]["http_port"]
    client = AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=API_KEY,
        max_retries=0,  # an error is counted, not hidden by a retry
        timeout=REQUEST_TIMEOUT,
    )
    async with client:
        complete, stream = sdk_calls(client)
        return await asyncio_measure(spec, stream if streaming else complete)


async def run_soak(spec: dict[str, Any]) -> dict[str, Any]:
    """``streams`` concurrent WebSocket streams for ``duration`` seconds, counts only."""
    streams, per_connection = spec["streams"], spec["ws_per_connection"]
    count = math.ceil(streams / per_connection)
    started_connecting = time.perf_counter()
    connections = await open_connections(spec["server"]["ws_url"], count)
    connected = time.perf_counter()
    cpu = cpu_seconds()
    try:
        tally = await asyncio_phase(
            ws_calls(connections, per_connection, True), streams, spec["duration"], None, keep=False
        )
        elapsed = time.perf_counter() - connected
        cpu = cpu_seconds() - cpu
        closed_early = sum(c.closed for c in connections)
    finally:
        await close_all(connections)
    return {
        "streams": tally.completed,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "stray_errors": sum(c.stray_errors for c in connections),
        "connections": count,
        "connections_closed_early": closed_early,
        "connect_s": connected - started_connecting,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
    }
