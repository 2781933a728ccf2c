"""Where cache entries live: this process's memory, or Redis shared by every process.

A backend stores opaque bytes under a key for a number of seconds, and grants the short
lock that lets one process (of many) fetch an answer the others then read. The memory
backend's lock is always granted: within a process, single flight is the cache's own.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Protocol

import trio

from hubactors.shared import FALLBACK, SharedRedis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CacheBackend(Protocol):
    """Bytes by key, with a lifetime; and a lock shared by the processes using it."""

    shared: bool
    """True when other processes see the same entries (their single flight needs a lock)."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None (absent, expired, or the store unavailable)."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds (silently not, when the store is unavailable)."""
        ...

    async def acquire(self, key: str, ttl: float) -> str | None:
        """A token if this process may fetch ``key`` (the lock lasts ``ttl`` seconds at
        most); None while another process holds it."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Give the lock back, if it is still the one ``token`` took."""
        ...


class MemoryBackend:
    """Entries in this process, least recently used evicted first once their encoded size
    passes ``max_bytes``; each expires ``ttl`` seconds after it was written (on Trio's
    clock)."""

    shared = False

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        await trio.lowlevel.checkpoint()
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if trio.current_time() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await trio.lowlevel.checkpoint()
        if len(value) > self.max_bytes:
            return  # it would evict everything and still not fit
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (trio.current_time() + ttl, value)
        self.size += len(value)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self.size -= len(value)

    async def acquire(self, key: str, ttl: float) -> str | None:
        await trio.lowlevel.checkpoint()
        return "local"

    async def release(self, key: str, token: str) -> None:
        await trio.lowlevel.checkpoint()


class RedisBackend:
    """Entries in Redis under ``<key_prefix>cache:<key>``, seen by every process; the lock
    is ``SET NX PX`` released by its token. While Redis is unavailable (``on_error =
    "open"``) every read misses, writes are dropped and every lock is granted: each
    process serves alone, uncached."""

    shared = True

    def __init__(self, redis: SharedRedis) -> None:
        self._redis = redis
        self._release = redis.script(_RELEASE)

    def _key(self, key: str) -> str:
        return self._redis.key("cache", key)

    async def get(self, key: str) -> bytes | None:
        name = self._key(key)
        value = await self._redis.call(lambda client: client.get(name))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        name, ms = self._key(key), max(1, int(ttl * 1000))
        await self._redis.call(lambda client: client.set(name, value, px=ms))

    async def acquire(self, key: str, ttl: float) -> str | None:
        from coredis.tokens import PureToken  # coredis is there once Redis is open

        name, token, ms = self._key(key) + ":lock", secrets.token_hex(8), max(1, int(ttl * 1000))
        taken = await self._redis.call(
            lambda client: client.set(name, token, px=ms, condition=PureToken.NX)
        )
        if taken is FALLBACK:
            return token
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        await self._release([self._key(key) + ":lock"], [token])
