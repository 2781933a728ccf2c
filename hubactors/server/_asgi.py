"""The little of ASGI the HTTP surface needs: bodies, JSON and event-stream responses,
client disconnects, and the lifespan protocol (hypercorn's trio worker serves the app).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_json = msgspec.json.Encoder()


class BodyTooLarge(Exception):
    """The request body is larger than the server accepts."""


class ClientDisconnected(Exception):
    """The client went away before its request body was read."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; raises :class:`BodyTooLarge` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client disconnects (call once the body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def start_response(
    send: Send, status: int, content_type: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), *headers],
        }
    )


async def send_body(send: Send, chunk: bytes, *, more: bool) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": more})


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A complete response."""
    await start_response(send, status, content_type, headers)
    await send_body(send, body, more=False)


async def send_json(
    send: Send, status: int, obj: object, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """A complete JSON response."""
    await send_bytes(send, status, _json.encode(obj), "application/json", headers)


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol: nothing to start or stop (the hub is already open)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
