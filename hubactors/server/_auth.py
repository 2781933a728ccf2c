"""Who may talk to the server: the bearer token, and the loopback guard without one.

The token arrives as ``Authorization: Bearer <token>`` (OpenAI's SDK and most clients) or
``x-api-key: <token>`` (Anthropic's SDK). A browser cannot set headers on a WebSocket
handshake, so there the token may also travel as a ``Sec-WebSocket-Protocol`` value,
``bearer.<token>``, offered beside :data:`SUBPROTOCOL` (the one the server selects, so the
token is never echoed back). Not in the query string: URLs are written to access logs,
proxy logs and browser history, a header is not.

With no token configured, the server listens on loopback only; then a browser on the same
machine is the remaining risk (any web page may open a WebSocket to 127.0.0.1, and DNS
rebinding lets a page reach a loopback HTTP server under its own name). So without a token,
a request whose ``Host`` is not a loopback name, or whose ``Origin`` is a page that is not
itself served from loopback, is refused.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

SUBPROTOCOL = "hubactors.v1"
"""The WebSocket subprotocol of the JSON protocol; the server selects it when offered."""

TOKEN_SUBPROTOCOL_PREFIX = "bearer."
"""A ``Sec-WebSocket-Protocol`` value ``bearer.<token>`` carries the token from browsers."""

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class Verdict(enum.Enum):
    """What the server does with a request, as far as credentials go."""

    ALLOWED = "allowed"
    UNAUTHORIZED = "unauthorized"  # 401: a token is required and none or a wrong one came
    FORBIDDEN = "forbidden"  # 403: no token is configured and the request is not local


def header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw ``(name, value)`` header pairs as a dict with lower-case names (last one wins)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` or an ``x-api-key`` header, if any."""
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key", "").strip() or None


def token_from_subprotocols(subprotocols: Iterable[str]) -> str | None:
    """The token of a ``bearer.<token>`` subprotocol value, if one was offered."""
    for value in subprotocols:
        if value.startswith(TOKEN_SUBPROTOCOL_PREFIX) and len(value) > len(
            TOKEN_SUBPROTOCOL_PREFIX
        ):
            return value[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    return None


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip().lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of_authority(authority: str) -> str:
    """``example:8080`` -> ``example``; ``[::1]:8080`` -> ``::1``."""
    return urlsplit(f"//{authority}").hostname or ""


def is_loopback_address(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    return _is_loopback_host(host)


class Authenticator:
    """Checks the credentials of HTTP requests and WebSocket handshakes.

    ``token`` is the one accepted bearer token, or ``None`` for the loopback-only mode.
    Tokens are compared in constant time.
    """

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def token_required(self) -> bool:
        return self._token is not None

    def _matches(self, presented: str | None) -> bool:
        if self._token is None or presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def _local(self, headers: Mapping[str, str], *, check_host: bool = True) -> bool:
        if check_host and not _is_loopback_host(_host_of_authority(headers.get("host", ""))):
            return False
        origin = headers.get("origin")
        return origin is None or _is_loopback_host(urlsplit(origin).hostname)

    def check_http(self, headers: Mapping[str, str]) -> Verdict:
        """The verdict on an HTTP request (probes are not checked at all)."""
        if self._token is None:
            return Verdict.ALLOWED if self._local(headers) else Verdict.FORBIDDEN
        return (
            Verdict.ALLOWED
            if self._matches(token_from_headers(headers))
            else (Verdict.UNAUTHORIZED)
        )

    def check_websocket(self, headers: Mapping[str, str], subprotocols: Iterable[str]) -> Verdict:
        """The verdict on a WebSocket handshake: a header or a subprotocol carries the token.

        Without a token only ``Origin`` is checked: a browser always sends it on a
        WebSocket handshake (a rebinding page included), and other clients are local.
        """
        if self._token is None:
            local = self._local(headers, check_host=False)
            return Verdict.ALLOWED if local else Verdict.FORBIDDEN
        presented = token_from_headers(headers) or token_from_subprotocols(subprotocols)
        return Verdict.ALLOWED if self._matches(presented) else Verdict.UNAUTHORIZED
