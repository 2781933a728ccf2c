"""A blocking WebSocket client of the protocol, on the ``websockets`` library."""

from __future__ import annotations

import json
import socket
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.server.conftest import TOKEN


def open_ws(
    url: str,
    *,
    token: str | None = TOKEN,
    subprotocols: list[str] | None = None,
    sock: socket.socket | None = None,
    close_timeout: float = 2,
    **options: Any,
) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(
        url,
        additional_headers=headers,
        subprotocols=subprotocols,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=5,
        close_timeout=close_timeout,
        sock=sock,
        **options,
    )


def request(id: str, prompt: str = "hello", *, stream: bool = False, **extra: Any) -> str:
    body = {"model": "chat", "messages": [{"role": "user", "content": prompt}], "stream": stream}
    return json.dumps({"type": "request", "id": id, "request": body | extra})


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def until_final(ws: ClientConnection, id: str | None = None) -> list[dict[str, Any]]:
    """Every frame up to (and with) the final frame of ``id`` (of any request if None)."""
    frames = []
    while True:
        frame = receive(ws)
        frames.append(frame)
        if frame["type"] in ("response", "error") and (id is None or frame["id"] == id):
            return frames
