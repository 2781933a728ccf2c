"""A tiny OpenAI-compatible upstream for the shared-state tests: answers every chat
completion with the same fixture (or the status it is told) and records when each request
arrived, on the wall clock (processes and the Redis server share it)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import h11
import trio

from tests.providers._replay import FIXTURES

OK_BODY = (FIXTURES / "openai/openai-gpt41nano-text-nonstream.json").read_bytes()


class Upstream:
    """The running server: ``url``, the arrival times, and what to answer next."""

    def __init__(self) -> None:
        self.port = 0
        self.arrivals: list[float] = []
        self.status = 200
        self.headers: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        """Answer every request from now on with ``status`` (and ``headers``)."""
        self.status = status
        self.headers = list((headers or {}).items())

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    self.arrivals.append(time.time())
                elif isinstance(event, h11.EndOfMessage):
                    await self._respond(conn, stream)
                    if conn.our_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        if self.status == 200:
            body = OK_BODY
        else:
            body = b'{"error": {"message": "upstream says no", "type": "server_error"}}'
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        response = h11.Response(status_code=self.status, headers=headers + self.headers)
        await stream.send_all(conn.send(response) or b"")
        await stream.send_all(conn.send(h11.Data(data=body)) or b"")
        await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


@asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


def most_in_any_window(arrivals: list[float], window: float) -> int:
    """The most arrivals in any half-open window ``[t, t + window)``."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most
