"""A scripted HTTP/1.1 server for tests, running in the test's own Trio loop.

Because it is served by ``trio.serve_tcp`` in the same run as the test, it works under
``MockClock(autojump_threshold=0)``: its sleeps and stalls are on the test's clock.

Each request takes the next :class:`Planned` response of the plan (the last one repeats,
or with ``cycle=True`` the whole plan does).
A response can be split into small random writes, delayed, held back before its headers
(``hang``), stopped mid-body (``stall_after``) or cut off (``cut_after``). Every request is
recorded, and a client that closes the connection before a response is complete is counted
in ``disconnects``.

    async with replay_server(Planned(fixture="openai/openai-gpt41nano-text.sse")) as server:
        ... server.url ... server.requests[0].json ... server.disconnects
"""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

import trio
import trio.lowlevel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


@dataclass(frozen=True, kw_only=True)
class Planned:
    """One scripted response. ``fixture`` is a path under ``tests/fixtures``.

    ``framing``: ``auto`` is chunked for event streams and Content-Length otherwise;
    ``close`` sends neither and closes the connection after the body. ``split`` is the
    largest piece of a random split (seeded by ``seed``); ``chunk_delay`` sleeps between
    pieces (otherwise ``trio.sleep(0)`` when ``yield_between``); ``hang`` sleeps before the
    headers (``math.inf``: forever); ``stall_after`` stops after that many body bytes and
    waits forever; ``cut_after`` closes the connection after that many body bytes.
    """

    status: int = 200
    body: bytes = b""
    fixture: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    framing: Literal["auto", "chunked", "length", "close"] = "auto"
    split: int | None = None
    seed: int = 0
    yield_between: bool = True
    chunk_delay: float = 0.0
    hang: float = 0.0
    stall_after: int | None = None
    cut_after: int | None = None

    def payload(self) -> bytes:
        return (FIXTURES / self.fixture).read_bytes() if self.fixture else self.body

    def media_type(self) -> str:
        if self.content_type:
            return self.content_type
        return "text/event-stream" if (self.fixture or "").endswith(".sse") else "application/json"

    def pieces(self) -> list[bytes]:
        body = self.payload()
        if not self.split:
            return [body] if body else []
        rng = random.Random(self.seed)
        out, i = [], 0
        while i < len(body):
            n = rng.randint(1, self.split)
            out.append(body[i : i + n])
            i += n
        return out


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ReplayServer:
    """The running server: ``url``, the recorded ``requests`` and the counters."""

    def __init__(
        self, plan: Sequence[Planned], *, cycle: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.port = 0
        self.cycle = cycle
        self.tls = tls
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.connections = 0
        self.completed = 0
        self._plan: list[Planned] = []
        self._next = 0
        self._changed = trio.Event()
        self.set_plan(plan)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def set_plan(self, plan: Sequence[Planned]) -> None:
        """Serve ``plan`` from the next request on."""
        if not plan:
            raise ValueError("a plan needs at least one response")
        self._plan, self._next = list(plan), 0

    async def wait_for(self, what: Literal["requests", "disconnects", "completed"], n: int) -> None:
        """Return once ``len(requests)`` (or the counter named) reaches ``n``."""
        while (len(self.requests) if what == "requests" else getattr(self, what)) < n:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _take(self) -> Planned:
        if self.cycle:
            planned = self._plan[self._next % len(self._plan)]
        else:
            planned = self._plan[min(self._next, len(self._plan) - 1)]
        self._next += 1
        return planned

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        buffer = bytearray()
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls, server_side=True)
        try:
            while (request := await _read_request(stream, buffer)) is not None:
                self.requests.append(request)
                self._notify()
                if not await self._respond(stream, self._take(), buffer):
                    break
        except _BROKEN:
            pass
        finally:
            await stream.aclose()

    async def _respond(
        self, stream: trio.SocketStream, planned: Planned, buffer: bytearray
    ) -> bool:
        """Send one response; return whether the connection stays open for another."""
        gone = False

        async def watch(scope: trio.CancelScope) -> None:
            # The client sends nothing while it waits for a response: EOF means it left.
            nonlocal gone
            while True:
                try:
                    data = await stream.receive_some(65536)
                except _BROKEN:
                    data = b""
                if not data:
                    gone = True
                    scope.cancel()
                    return
                buffer.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery.cancel_scope)
            try:
                await self._send(stream, planned)
            except _BROKEN:
                gone = True
            nursery.cancel_scope.cancel()
        if gone:
            self.disconnects += 1
        else:
            self.completed += 1
        self._notify()
        return not gone and planned.cut_after is None and _framing(planned) != "close"

    async def _send(self, stream: trio.SocketStream, planned: Planned) -> None:
        if planned.hang:
            await trio.sleep(planned.hang)
        framing = _framing(planned)
        pieces = planned.pieces()
        head = [f"HTTP/1.1 {planned.status} Scripted", f"Content-Type: {planned.media_type()}"]
        head += [f"{k}: {v}" for k, v in planned.headers.items()]
        if framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        elif framing == "length":
            head.append(f"Content-Length: {sum(map(len, pieces))}")
        if framing == "close" or planned.cut_after is not None:
            head.append("Connection: close")
        await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        limit = planned.cut_after if planned.cut_after is not None else planned.stall_after
        sent = 0
        for i, piece in enumerate(pieces):
            if limit is not None:
                piece = piece[: max(0, limit - sent)]
                if not piece:
                    break
            if i and planned.chunk_delay:
                await trio.sleep(planned.chunk_delay)
            elif i and planned.yield_between:
                await trio.lowlevel.checkpoint()
            framed = b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece
            await stream.send_all(framed)
            sent += len(piece)
        if planned.stall_after is not None:
            await trio.sleep_forever()
        if framing == "chunked" and planned.cut_after is None:
            await stream.send_all(b"0\r\n\r\n")


def _framing(planned: Planned) -> str:
    if planned.framing != "auto":
        return planned.framing
    return "chunked" if planned.media_type() == "text/event-stream" else "length"


async def _read_request(stream: trio.SocketStream, buffer: bytearray) -> RecordedRequest | None:
    """Read one request (Content-Length bodies only); ``None`` when the client closed."""
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer.extend(data)
    end = buffer.index(b"\r\n\r\n")
    lines = buffer[:end].decode("latin-1").split("\r\n")
    del buffer[: end + 4]
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer.extend(data)
    body = bytes(buffer[:length])
    del buffer[:length]
    url = urlsplit(target)
    return RecordedRequest(method, url.path, dict(parse_qsl(url.query)), headers, body)


@asynccontextmanager
async def replay_server(
    plan: Planned | Sequence[Planned], *, cycle: bool = False, tls: ssl.SSLContext | None = None
) -> AsyncIterator[ReplayServer]:
    """Serve ``plan`` on 127.0.0.1 (a free port) for the duration of the block; over TLS
    with ``tls`` (a server-side context)."""
    server = ReplayServer([plan] if isinstance(plan, Planned) else plan, cycle=cycle, tls=tls)
    async with serving(server):
        yield server


class _Served(Protocol):
    port: int

    async def handle(self, stream: trio.SocketStream) -> None: ...


@asynccontextmanager
async def serving(server: _Served) -> AsyncIterator[None]:
    """Serve ``server.handle`` on 127.0.0.1 (a free port, set as ``server.port``) for the
    duration of the block; the test's own exception leaves it as itself."""
    try:
        async with trio.open_nursery() as nursery:
            serve = partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1")
            listeners = await nursery.start(serve)
            server.port = listeners[0].socket.getsockname()[1]
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Let ``pytest.raises`` around the block see the test's own exception.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


__all__ = ["FIXTURES", "Planned", "RecordedRequest", "ReplayServer", "replay_server"]
