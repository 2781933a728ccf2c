"""An upstream that echoes back the API key it was sent, the way careless providers do.

Built on the scripted server of ``tests/providers/_replay.py``: instead of a fixed plan,
each response is made from the credential found in the request (``Authorization: Bearer``,
``x-api-key``, ``x-goog-api-key``, ``api-key`` or ``?key=``) by an :data:`Echo` function.

    async with echo_server(whole_key_error("openai")) as server:
        ... server.url ... server.credentials[-1]
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from tests.providers._replay import Planned, RecordedRequest, ReplayServer, serving

Echo = Callable[[str], Planned]
"""The response to a request that carried this credential."""


def credential_of(request: RecordedRequest) -> str:
    """The API key a request carried, whichever way its provider sends it."""
    headers = request.headers
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[len("bearer ") :]
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        if name in headers:
            return headers[name]
    return request.query.get("key", "")


class EchoServer(ReplayServer):
    """A :class:`ReplayServer` whose every response is ``echo(credential of the request)``."""

    def __init__(self, echo: Echo) -> None:
        super().__init__([Planned()])
        self._echo = echo
        self.credentials: list[str] = []

    def _take(self) -> Planned:
        credential = credential_of(self.requests[-1])
        self.credentials.append(credential)
        return self._echo(credential)


@asynccontextmanager
async def echo_server(echo: Echo) -> AsyncIterator[EchoServer]:
    """Serve ``echo`` on 127.0.0.1 (a free port) for the duration of the block."""
    server = EchoServer(echo)
    async with serving(server):
        yield server


def error_body(provider: str, status: int, message: str, *, code: str = "") -> bytes:
    """An error body in ``provider``'s own shape, so its codec takes the message from it."""
    if provider == "anthropic":
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": code or "authentication_error", "message": message},
            "request_id": f"req_{code}" if code else "req_1",
        }
    elif provider == "gemini":
        body = {"error": {"code": status, "message": message, "status": code or "INVALID"}}
    else:  # openai, azure, openai-compatible
        body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return json.dumps(body).encode()


def whole_key_error(provider: str) -> Echo:
    """401 quoting the whole key, also in the error code/type and the request id."""

    def echo(key: str) -> Planned:
        body = error_body(provider, 401, f"Incorrect API key provided: {key}.", code=key)
        return Planned(status=401, body=body, headers={"x-request-id": f"req_{key}"})

    return echo


def masked_key_error(provider: str) -> Echo:
    """401 quoting the key masked as OpenAI does: its start, stars, its last four."""

    def echo(key: str) -> Planned:
        masked = f"{key[:12]}{'*' * 24}{key[-4:]}"
        message = f"Incorrect API key provided: {masked}. Find your key in your account."
        return Planned(status=401, body=error_body(provider, 401, message))

    return echo


def key_in_url_error(provider: str) -> Echo:
    """400 whose message quotes a URL carrying the key as ``?key=``."""

    def echo(key: str) -> Planned:
        url = f"https://upstream.example/v1beta/models/m:generateContent?key={key}&alt=sse"
        message = f"API key not valid for {url}. Please pass a valid API key."
        return Planned(status=400, body=error_body(provider, 400, message))

    return echo


def key_in_redirect(provider: str) -> Echo:
    """302 to a login page whose ``Location`` (and the page text) carries the key."""
    del provider  # a proxy's redirect looks the same whoever is behind it

    def echo(key: str) -> Planned:
        location = f"https://login.example/authorize?key={key}&next=%2Fv1"
        page = f"<html><body><p>Redirecting to {location}</p></body></html>"
        return Planned(
            status=302,
            body=page.encode(),
            content_type="text/html",
            headers={"Location": location},
        )

    return echo


__all__ = [
    "Echo",
    "EchoServer",
    "credential_of",
    "echo_server",
    "error_body",
    "key_in_redirect",
    "key_in_url_error",
    "masked_key_error",
    "whole_key_error",
]
