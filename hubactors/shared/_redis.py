"""One Redis client per hub, for the state hub processes share: every call bounded, every
failure handled the way the config says.

A call either returns Redis's answer, or, while Redis is down, slow or restarting:

- ``on_error = "open"``: the sentinel :data:`FALLBACK`, which callers answer with their
  per-process state (no cache, local limits and breakers). One warning is logged when Redis
  goes away and one line when it is back; :attr:`SharedRedis.available` says which it is.
- ``on_error = "closed"``: :class:`~hubactors.errors.SharedStateUnavailableError`, at once.

Either way no call waits longer than ``redis.timeout``, and none touches the network while
Redis is known to be down: a probe task PINGs it every ``probe_interval`` seconds (each PING
bounded too) and restores calls when one answers. Only coredis speaks the protocol; it runs
on Trio through anyio and is imported when a hub first opens Redis (the ``redis`` extra).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import trio

from hubactors._logging import logger
from hubactors.config import RedisConfig
from hubactors.errors import ConfigError, SharedStateUnavailableError

if TYPE_CHECKING:
    import coredis
    from coredis.commands.script import Script

T = TypeVar("T")

PROBE_INTERVAL = 2.0
"""Seconds between PINGs while Redis is unavailable."""


@final
class Fallback:
    """The type of :data:`FALLBACK`: Redis is unavailable, use per-process state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FALLBACK"

    def __bool__(self) -> bool:
        return False


FALLBACK: Final = Fallback()
"""What a call returns instead of an answer while Redis is unavailable (``on_error="open"``)."""


def display_url(url: str) -> str:
    """``url`` without its user and password, fit for logs."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _is_failure(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` says Redis could not be reached or answered too late (coredis wraps
    some of these in exception groups of its task groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_failure(inner, kinds) for inner in exc.exceptions)
    return isinstance(exc, kinds)


class SharedScript:
    """A Lua script registered once; ``await script(keys, args)`` runs it by its SHA (loaded
    again by itself after a Redis restart). Returns :data:`FALLBACK` or raises like
    :meth:`SharedRedis.call`."""

    __slots__ = ("_redis", "_script")

    def __init__(self, redis: SharedRedis, script: Script[bytes]) -> None:
        self._redis = redis
        self._script = script

    async def __call__(
        self, keys: Sequence[str] = (), args: Sequence[str | bytes | int | float] = ()
    ) -> Any | Fallback:
        script = self._script
        return await self._redis.call(lambda client: script(keys=list(keys), args=list(args)))


class SharedRedis:
    """The hub's one connection pool to Redis. Open it with :meth:`open`.

    Safe to use from any number of tasks. Cancelling a call cancels its Redis command; the
    connection it used is discarded or reused as coredis sees fit, never left half-read.
    """

    def __init__(
        self,
        client: coredis.Redis[bytes],
        config: RedisConfig,
        nursery: trio.Nursery,
        failures: tuple[type[BaseException], ...],
        probe_interval: float,
    ) -> None:
        self.config = config
        self.timeout = config.timeout
        self.prefix = config.key_prefix
        self._client = client
        self._nursery = nursery
        self._failures = failures
        self._probe_interval = probe_interval
        self._available = True
        self._down_since = 0.0
        self.outages = 0
        """How many times Redis became unavailable since the hub opened it."""

    @classmethod
    @asynccontextmanager
    async def open(
        cls, config: RedisConfig, *, probe_interval: float = PROBE_INTERVAL
    ) -> AsyncIterator[SharedRedis]:
        """Connect to ``config.url`` for the duration of the block.

        Never fails because Redis is down: it checks with one bounded PING and, if that
        fails, starts unavailable (and probing). Raises
        :class:`~hubactors.errors.ConfigError` when coredis is not installed.
        """
        try:
            import coredis
            import coredis.exceptions
        except ImportError:
            raise ConfigError(
                "state shared on Redis needs coredis: pip install 'hubactors[redis]'",
                key="redis",
            ) from None
        failures = (
            # BusyLoadingError (a restarted server loading its data) is one of these.
            coredis.exceptions.ConnectionError,
            TimeoutError,
            OSError,
            trio.TooSlowError,
        )
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            config.url, connect_timeout=config.timeout
        )
        try:
            async with client, trio.open_nursery() as nursery:
                redis = cls(client, config, nursery, failures, probe_interval)
                if not await redis._ping():
                    redis._went_down("no answer to PING")
                try:
                    yield redis
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's own error (wrapped by our nursery and coredis's task group) is
            # raised as itself, cause and all.
            error = _single(group)
            if error is None:
                raise
        else:
            return
        raise error

    @property
    def available(self) -> bool:
        """False while Redis is known to be down (calls fall back or raise at once)."""
        return self._available

    def key(self, *parts: str) -> str:
        """A key under this hub's ``key_prefix``: ``key("cache", "v1", h)`` is
        ``hubactors:cache:v1:<h>`` with the default prefix."""
        return self.prefix + ":".join(parts)

    async def call(self, command: Callable[[coredis.Redis[bytes]], Awaitable[T]]) -> T | Fallback:
        """Run ``command(client)`` within ``redis.timeout``: ``await redis.call(lambda r:
        r.get(key))``.

        Returns :data:`FALLBACK` when Redis is down or too slow and ``on_error = "open"``;
        raises :class:`~hubactors.errors.SharedStateUnavailableError` when it is ``closed``.
        Errors Redis answers (a wrong type, a failing script) are raised as coredis raises
        them: those are bugs, not outages.
        """
        if not self._available:
            return self._unavailable()
        try:
            with trio.fail_after(self.timeout):
                return await command(self._client)
        except Exception as exc:
            if not _is_failure(exc, self._failures):
                raise
            reason = "timed out" if isinstance(exc, trio.TooSlowError) else _describe(exc)
            self._went_down(reason)
            return self._unavailable(exc)

    def script(self, source: str) -> SharedScript:
        """Register a Lua script once; the result is awaited like a call."""
        return SharedScript(self, self._client.register_script(source))

    async def publish(self, channel: str, data: bytes | str) -> int | Fallback:
        """Send ``data`` to every subscriber of ``channel`` (name it with :meth:`key`);
        returns how many processes received it."""
        return await self.call(lambda client: client.publish(channel, data))

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, buffer: int = 256
    ) -> AsyncIterator[trio.MemoryReceiveChannel[bytes]]:
        """The messages published to ``channel`` while the block runs:
        ``async with redis.subscribe(c) as messages: async for data in messages``.

        Survives Redis going away: it subscribes again once Redis is back (messages
        published meanwhile are lost, so subscribers keep a local view that expires).
        A slow reader holds up only its own subscription, up to ``buffer`` messages.
        """
        send, receive = trio.open_memory_channel[bytes](buffer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._listen, channel, send)
            try:
                yield receive
            finally:
                nursery.cancel_scope.cancel()

    async def _listen(self, channel: str, send: trio.MemorySendChannel[bytes]) -> None:
        async with send:
            while True:
                try:
                    async with self._client.pubsub(
                        channels=[channel], ignore_subscribe_messages=True, retry_policy=None
                    ) as messages:
                        logger.debug("subscribed to {}", channel)
                        async for message in messages:
                            data = message["data"]
                            if message["type"] == "message" and isinstance(data, bytes):
                                await send.send(data)
                except Exception as exc:
                    if not _is_failure(exc, self._failures):
                        raise
                    logger.debug("subscription to {} lost: {}", channel, _describe(exc))
                await trio.sleep(self._probe_interval)

    def _unavailable(self, cause: BaseException | None = None) -> Fallback:
        if self.config.on_error == "open":
            return FALLBACK
        raise SharedStateUnavailableError(
            f"Redis at {display_url(self.config.url)} is unavailable "
            '(redis.on_error = "closed" refuses requests without it)'
        ) from cause

    def _went_down(self, reason: str) -> None:
        if not self._available:
            return
        self._available = False
        self._down_since = trio.current_time()
        self.outages += 1
        fallback = (
            "using per-process state"
            if self.config.on_error == "open"
            else "refusing requests that need it"
        )
        logger.warning(
            "Redis at {} is unavailable ({}); {} until it answers again",
            display_url(self.config.url),
            reason,
            fallback,
        )
        self._nursery.start_soon(self._probe)

    async def _ping(self) -> bool:
        try:
            with trio.fail_after(self.timeout):
                await self._client.ping()
        except Exception as exc:
            if not _is_failure(exc, self._failures):
                raise
            return False
        return True

    async def _probe(self) -> None:
        while not await self._ping():  # noqa: ASYNC110 - polling a server that may be gone
            await trio.sleep(self._probe_interval)
        self._available = True
        logger.info(
            "Redis at {} answers again after {:.1f}s",
            display_url(self.config.url),
            trio.current_time() - self._down_since,
        )


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-exception groups, or None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
