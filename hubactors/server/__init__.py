"""``hubactors serve``: the hub as a network service.

A WebSocket endpoint speaking a small JSON protocol (many requests per connection, stream
events, cancel) and an HTTP surface compatible with OpenAI's Chat Completions and
Anthropic's Messages APIs, plus probes and Prometheus metrics, with a graceful drain::

    async with hubactors.open_hub(config) as hub:
        async with open_server(hub, ServerConfig(port=0, http_port=0), token=token) as server:
            print(server.ws_url, server.http_url)
            await server.shutdown()

This package is a layer over the public API of :mod:`hubactors`; it imports nothing else.
See ``docs/server.md`` for the protocol.
"""

from hubactors.server._auth import SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX
from hubactors.server._config import (
    DEFAULT_TOKEN_ENV,
    ServerConfig,
    load_serve_config,
    resolve_token,
    server_config_from_dict,
)
from hubactors.server._lifecycle import run_until_signal
from hubactors.server._server import Server, open_server

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "SUBPROTOCOL",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "Server",
    "ServerConfig",
    "load_serve_config",
    "open_server",
    "resolve_token",
    "run_until_signal",
    "server_config_from_dict",
]
