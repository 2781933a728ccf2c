"""The response cache: identical requests answered once, from memory or from Redis.

See ``docs/cache.md``. The hub's request driver looks a request up before routing it and
stores the answer after it finished cleanly.
"""

from hubactors.cache._backends import CacheBackend, MemoryBackend, RedisBackend
from hubactors.cache._cache import (
    CacheEntry,
    Claim,
    ReplayStream,
    ResponseCache,
    entry_of_response,
    entry_of_stream,
    open_cache,
)
from hubactors.cache._key import KEY_VERSION, cache_key

__all__ = [
    "KEY_VERSION",
    "CacheBackend",
    "CacheEntry",
    "Claim",
    "MemoryBackend",
    "RedisBackend",
    "ReplayStream",
    "ResponseCache",
    "cache_key",
    "entry_of_response",
    "entry_of_stream",
    "open_cache",
]
