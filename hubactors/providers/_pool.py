"""The HTTP clients every deployment shares: one per origin and kind, in a :class:`ClientPool`.

Two kinds of client carry requests, behind one small interface (``send`` a request, get a
response whose body is read with ``aiter_bytes`` and which is always ``aclose``-d):

- ``h11`` (:class:`~hubactors.providers._http11.H11Client`): HTTP/1.1 on h11 and Trio
  streams; several times cheaper per request than httpx under Trio (see
  ``docs/performance.md``), with an O(1) pool;
- ``httpx``: an ``httpx.AsyncClient``, for HTTP/2 and for proxies (``HTTP(S)_PROXY``).

A deployment's ``transport`` chooses (``auto``: h11 unless the deployment asks for HTTP/2
or a proxy applies to its host). Both raise httpx's exception types.
"""

from __future__ import annotations

import importlib.util
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpcore
import httpx
import trio

from hubactors.errors import ConfigError, HubClosedError
from hubactors.providers._http11 import H11Client

TransportKind = Literal["auto", "h11", "httpx"]

_USER_AGENT = "hubactors"


class HttpResponse(Protocol):
    """A response whose headers arrived."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> httpx.Headers: ...

    @property
    def is_success(self) -> bool: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class HttpClient(Protocol):
    """Sends requests to one origin."""

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float | None = None,
    ) -> HttpResponse: ...

    async def aclose(self) -> None: ...


class _H11(H11Client):
    """The h11 client, taking full URLs like httpx does."""

    async def send(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float | None = None,
    ) -> HttpResponse:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return await super().send(method, target, headers, body, connect_timeout=connect_timeout)


class _Httpx:
    """An ``httpx.AsyncClient`` behind the same interface."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.httpx = client

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float | None = None,
    ) -> HttpResponse:
        timeout = httpx.Timeout(connect=connect_timeout, read=None, write=None, pool=None)
        request = self.httpx.build_request(
            method, url, headers=headers, content=body or None, timeout=timeout
        )
        return await self.httpx.send(request, stream=True)

    async def aclose(self) -> None:
        await self.httpx.aclose()


def proxied(url: httpx.URL) -> bool:
    """Whether the environment sends requests to ``url``'s host through a proxy."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.host)


class _ReclaimingConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, plus the reclaiming of connections orphaned by cancelled requests.

    httpcore 1.0 can leave a connection in the pool that no request owns and that is neither
    idle nor closed (a request cancelled after being assigned a new connection, before using
    it: encode/httpcore#1093). Such a connection holds a slot forever, and once every slot
    is held the pool hangs. Before each assignment pass this drops and closes them.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        requests = getattr(self, "_requests", None)
        connections = getattr(self, "_connections", None)
        orphans: list[httpcore.AsyncConnectionInterface] = []
        if isinstance(requests, list) and isinstance(connections, list):
            owned = {id(getattr(r, "connection", None)) for r in requests}
            orphans = [
                c
                for c in connections
                if id(c) not in owned and not c.is_idle() and not c.is_closed()
            ]
            for connection in orphans:
                connections.remove(connection)
        return orphans + super()._assign_requests_to_connections()


class ClientPool:
    """One pooled client per origin and kind, reused by every deployment on that host.

    HTTP/1.1 keep-alive by default; HTTP/2 (httpx) when asked and the ``h2`` package is
    installed. Close it with :meth:`aclose` when no provider uses it any more.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_keepalive_connections: int = 100,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # None: the system's trust store as httpx builds it (certifi, SSL_CERT_FILE).
        self._ssl_context = ssl_context
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self._clients: dict[tuple[str, str, int, bool, str], HttpClient] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._clients)

    def get(
        self,
        base_url: str,
        *,
        http2: bool = False,
        connect_timeout: float | None = 10.0,
        transport: TransportKind = "auto",
    ) -> HttpClient:
        """The client for ``base_url``'s origin, created on first use.

        Raises ``ConfigError`` for HTTP/2 without ``h2`` (or on the h11 client) or a URL
        that is not http(s), and ``HubClosedError`` once the pool is closed.
        ``connect_timeout`` applies to a client created by this call (requests may
        override it).
        """
        if self._closed:
            raise HubClosedError("the HTTP client pool is closed")
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"invalid URL: {exc}", key="base_url") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError("expected an http:// or https:// URL", key="base_url")
        port = url.port or (443 if url.scheme == "https" else 80)
        if transport == "auto":
            transport = "httpx" if http2 or proxied(url) else "h11"
        elif transport == "h11" and http2:
            raise ConfigError("HTTP/2 needs transport 'httpx' (or 'auto')", key="http2")
        key = (url.scheme, url.host, port, http2, transport)
        client = self._clients.get(key)
        if client is None:
            if transport == "h11":
                client = self._new_h11(url.scheme, url.host, port, connect_timeout)
            else:
                client = _Httpx(self._new_httpx(http2, connect_timeout))
            self._clients[key] = client
        return client

    def _new_h11(
        self, scheme: str, host: str, port: int, connect_timeout: float | None
    ) -> HttpClient:
        limits = self._limits
        return _H11(
            scheme,
            host,
            port,
            ssl_context=self._tls() if scheme == "https" else None,
            max_connections=limits.max_connections or 100,
            max_keepalive_connections=limits.max_keepalive_connections or 0,
            keepalive_expiry=limits.keepalive_expiry or 0.0,
            connect_timeout=connect_timeout,
        )

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _new_httpx(self, http2: bool, connect_timeout: float | None) -> httpx.AsyncClient:
        if http2 and importlib.util.find_spec("h2") is None:
            raise ConfigError(
                "HTTP/2 needs the 'h2' package (pip install 'hubactors[http2]')", key="http2"
            )
        ssl_context = self._tls()
        transport = httpx.AsyncHTTPTransport(verify=ssl_context, http2=http2, limits=self._limits)
        transport._pool = _ReclaimingConnectionPool(
            ssl_context=ssl_context,
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            keepalive_expiry=self._limits.keepalive_expiry,
            http1=True,
            http2=http2,
        )
        timeout = httpx.Timeout(connect=connect_timeout, read=None, write=None, pool=None)
        return httpx.AsyncClient(
            transport=transport, timeout=timeout, headers={"User-Agent": _USER_AGENT}
        )

    async def aclose(self) -> None:
        """Close every client; later :meth:`get` calls raise ``HubClosedError``."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        with trio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()
