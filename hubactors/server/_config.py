"""How ``hubactors serve`` listens: addresses, limits, the drain's grace, where the token is.

The settings live in a ``[server]`` table of the hub's TOML file, beside the hub's own keys;
:func:`load_serve_config` splits the two. The token itself never goes in the file: like an
API key, the file names the environment variable that holds it (``token_env``, by default
``HUBACTORS_TOKEN``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from hubactors import ConfigError, HubConfig, config_from_dict

DEFAULT_TOKEN_ENV = "HUBACTORS_TOKEN"
MIB = 1024 * 1024


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The server's settings; times are seconds, sizes bytes.

    ``port`` is the WebSocket endpoint, ``http_port`` the HTTP surface (0 picks a free port).
    ``max_in_flight`` and ``send_queue`` bound one WebSocket connection: requests at once,
    and frames waiting for a slow reader before its streams pause. ``idle_timeout`` closes a
    connection with nothing in flight and nothing received for that long; a ping goes out
    every ``ping_interval`` and the connection is dropped when its pong takes longer than
    ``ping_timeout``. ``drain_grace`` is how long a shutdown lets in-flight requests finish.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    http_port: int = 8080
    token_env: str = DEFAULT_TOKEN_ENV
    max_frame_size: int = 16 * MIB
    max_body_size: int = 16 * MIB
    max_in_flight: int = 64
    send_queue: int = 64
    idle_timeout: float = 300.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    drain_grace: float = 10.0

    def __post_init__(self) -> None:
        for name in ("port", "http_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name} must be within 0..65535")
        for name in ("max_frame_size", "max_body_size", "max_in_flight", "send_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        for name in ("idle_timeout", "ping_interval", "ping_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_grace < 0:
            raise ValueError("drain_grace must not be negative")


def server_config_from_dict(data: Mapping[str, Any], *, file: str | None = None) -> ServerConfig:
    """Validate a ``[server]`` table; raises :class:`~hubactors.ConfigError` naming the key."""
    try:
        return msgspec.convert(dict(data), ServerConfig)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key = None
        if "at `$." in message:
            message, _, path = message.partition(" - at `$.")
            key = "server." + path.rstrip("`")
        elif (unknown := re.search(r"unknown field `(\w+)`", message)) is not None:
            key = f"server.{unknown.group(1)}"
        raise ConfigError(message, file=file, key=key) from None


def load_serve_config(path: str | os.PathLike[str]) -> tuple[HubConfig, ServerConfig]:
    """Read a hub TOML file whose optional ``[server]`` table configures the server."""
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=file) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    table = data.pop("server", {})
    if not isinstance(table, dict):
        raise ConfigError("must be a table", file=file, key="server")
    return config_from_dict(data, file=file), server_config_from_dict(table, file=file)


def resolve_token(config: ServerConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token from the variable ``config.token_env`` names; ``None`` if unset."""
    env = os.environ if environ is None else environ
    return env.get(config.token_env) or None
