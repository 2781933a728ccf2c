"""``hubactors serve``: the hub over WebSocket and HTTP until SIGTERM or SIGINT.

Without ``--config`` it serves the demo's simulated hub. The first line on stderr gives
the bound addresses (useful with port 0). A signal starts the graceful drain; the command
then exits 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
import trio

from hubactors.cli._demo import demo_config
from hubactors.config import HubConfig
from hubactors.errors import ConfigError, HubError
from hubactors.hub._hub import open_hub
from hubactors.server import (
    Server,
    ServerConfig,
    load_serve_config,
    open_server,
    resolve_token,
    run_until_signal,
    server_config_from_dict,
)


def add_parser(sub: Any) -> None:
    """Register ``serve`` on the ``hubactors`` subcommand parser."""
    serve = sub.add_parser("serve", help="serve the hub over WebSocket and HTTP")
    serve.add_argument("--config", help="hub TOML file (its [server] table configures serve)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="WebSocket port (default 8765; 0: any free)")
    serve.add_argument("--http-port", type=int, help="HTTP port (default 8080; 0: any free)")
    serve.add_argument("--grace", type=float, help="seconds a shutdown lets requests finish")
    serve.add_argument("--json", action="store_true", help="print the first line as JSON")
    serve.set_defaults(func=cmd_serve)


def _configs(args: argparse.Namespace) -> tuple[HubConfig, ServerConfig]:
    if args.config:
        hub_config, server_config = load_serve_config(args.config)
    else:
        hub_config, server_config = demo_config(), ServerConfig()
    overrides = {
        key: value
        for key, value in (
            ("host", args.host),
            ("port", args.port),
            ("http_port", args.http_port),
            ("drain_grace", args.grace),
        )
        if value is not None
    }
    if overrides:
        merged = {**msgspec.structs.asdict(server_config), **overrides}
        server_config = server_config_from_dict(merged, file="<command line>")
    return hub_config, server_config


def _announce(server: Server, *, json: bool) -> None:
    routes = list(server.hub.config.route_table())
    auth = "token" if server.token_required else "loopback-only"
    if json:
        line = msgspec.json.encode(
            {
                "event": "listening",
                "websocket": server.ws_url,
                "http": server.http_url,
                "ws_port": server.ws_port,
                "http_port": server.http_port,
                "routes": routes,
                "auth": auth,
            }
        ).decode()
    else:
        line = (
            f"hubactors serve: websocket {server.ws_url} http {server.http_url} "
            f"ws_port={server.ws_port} http_port={server.http_port} auth={auth} "
            f"routes={','.join(routes)}"
        )
        if not server.token_required:
            line += " (no token configured: loopback only; set HUBACTORS_TOKEN to require one)"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def _serve(
    hub_config: HubConfig, server_config: ServerConfig, token: str | None, json: bool
) -> None:
    async with (
        open_hub(hub_config) as hub,
        open_server(hub, server_config, token=token) as server,
    ):
        _announce(server, json=json)
        await run_until_signal(server.shutdown, server.drain.cut)


def _run(hub_config: HubConfig, server_config: ServerConfig, token: str | None, json: bool) -> None:
    """``trio.run`` the server, raising a lone failure as itself (not in a group)."""
    try:
        trio.run(_serve, hub_config, server_config, token, json)
    except BaseExceptionGroup as group:
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, BaseExceptionGroup):
            raise
        raise leaf from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Run ``hubactors serve``; 0 after a graceful drain, 2 for a bad config."""
    try:
        hub_config, server_config = _configs(args)
        token = resolve_token(server_config)
        _run(hub_config, server_config, token, args.json)
    except ConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
