"""The response cache: what may be cached, single flight, and entries in both forms.

An entry holds the response and, when it came from a stream, the stream's events; either
serves both a completion and a stream (a completion's answer replays as the events a stream
of it would have had). Entries are msgspec MessagePack, never pickle, under a key with a
format version (:mod:`hubactors.cache._key`). Only an answer that finished cleanly (``stop``
or ``tool_calls``) is written: an error, a cancel, a stream cut short, a ``length``
truncation or a content filter leaves nothing, whole or half.

Single flight: of concurrent identical requests one goes upstream and the others wait for
its entry, in this process through an event, across processes through a short lock in Redis
(followers poll for the entry). A follower waits at most ``lock_timeout`` seconds, so a
leader that died never blocks it: it then goes upstream itself.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import msgspec
import trio

from hubactors._logging import logger
from hubactors.cache._backends import CacheBackend, MemoryBackend, RedisBackend
from hubactors.cache._key import cache_key
from hubactors.config import CacheConfig, RouteConfig
from hubactors.errors import ConfigError, SharedStateUnavailableError
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallComplete,
    ToolCallDelta,
    UsageEvent,
)
from hubactors.shared import SharedRedis

LOCK_TIMEOUT = 10.0
"""Seconds a follower waits for the leader's entry (and the most a Redis lock lives)."""
POLL_INTERVAL = 0.02
"""Seconds between a cross-process follower's looks for the entry."""

CACHEABLE_FINISH = frozenset({FinishReason.STOP, FinishReason.TOOL_CALLS})


class CacheEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One cached answer: the response, and the stream's events when it was streamed."""

    response: ChatResponse
    events: list[StreamEvent] | None = None

    def stream_events(self) -> list[StreamEvent]:
        """The events a stream of this answer has; a replay costs nothing, so its usage
        event says ``cost = 0``."""
        events = self.events if self.events is not None else _events_of(self.response)
        return [
            UsageEvent(event.usage, cost=0.0) if isinstance(event, UsageEvent) else event
            for event in events
        ]


def _events_of(response: ChatResponse) -> list[StreamEvent]:
    """The stream a completion would have been."""
    events: list[StreamEvent] = [
        StreamStart(
            id=response.id,
            model=response.model,
            provider=response.provider,
            deployment=response.deployment,
        )
    ]
    if response.reasoning:
        events.append(ReasoningDelta(response.reasoning))
    if response.text:
        events.append(TextDelta(response.text))
    for index, call in enumerate(response.tool_calls):
        arguments = msgspec.json.encode(call.arguments).decode()
        events.append(ToolCallDelta(index=index, id=call.id, name=call.name, arguments=arguments))
        events.append(ToolCallComplete(index=index, tool_call=call))
    events.append(UsageEvent(response.usage, cost=response.cost))
    events.append(
        Finish(finish_reason=response.finish_reason, raw_finish_reason=response.raw_finish_reason)
    )
    return events


def entry_of_stream(events: list[StreamEvent]) -> CacheEntry | None:
    """The entry of a stream's events, or None unless it finished cleanly."""
    accumulator = StreamAccumulator()
    for event in events:
        accumulator.add(event)
    finish = accumulator.finish
    if finish is None or finish.finish_reason not in CACHEABLE_FINISH:
        return None
    return CacheEntry(response=accumulator.response(), events=list(events))


def entry_of_response(response: ChatResponse) -> CacheEntry | None:
    """The entry of a completion, or None unless it finished cleanly."""
    if response.finish_reason not in CACHEABLE_FINISH:
        return None
    return CacheEntry(response=response)


class ReplayStream:
    """A cached answer read like a deployment's stream (what ``EventStream`` reads)."""

    def __init__(self, entry: CacheEntry) -> None:
        response = entry.response
        self.deployment = response.deployment
        self.provider = response.provider
        self.model = response.model
        self._events = entry.stream_events()
        self._next = 0

    async def next(self) -> StreamEvent:
        await trio.lowlevel.checkpoint()
        event = self._events[self._next]  # Finish is last: nothing reads past it
        self._next += 1
        return event

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class _Flight:
    """An identical request being fetched by this process; followers wait on ``done``."""

    __slots__ = ("done", "entry")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.entry: CacheEntry | None = None


class Claim:
    """One request's use of the cache: its key, what it may do, and the flight it leads."""

    __slots__ = ("flight", "key", "read", "store", "token", "ttl")

    def __init__(self, key: str, *, read: bool, store: bool, ttl: float) -> None:
        self.key = key
        self.read = read
        self.store = store
        self.ttl = ttl
        self.flight: _Flight | None = None
        self.token: str | None = None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(CacheEntry)


class ResponseCache:
    """The hub's response cache over one backend (see the module docstring).

    Safe for any number of tasks. Cancellation while waiting for a leader or for the lock
    leaves nothing behind: the flight it led, if any, is ended so followers move on.
    """

    def __init__(
        self,
        config: CacheConfig,
        backend: CacheBackend,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.config = config
        self.backend = backend
        self.lock_timeout = lock_timeout
        self.poll_interval = poll_interval
        self._flights: dict[str, _Flight] = {}

    def claim_for(self, request: ChatRequest, route: RouteConfig) -> Claim | None:
        """How the cache takes part in ``request``; None when it does not at all (a
        sampled request its route and itself did not allow, or both skip and no store)."""
        control = request.cache
        sampled = route.cache_sampled or (control is not None and control.sampled)
        if request.temperature is not None and request.temperature > 0 and not sampled:
            return None
        read = control is None or not control.skip
        store = control is None or control.store
        if not (read or store):
            return None
        ttl = control.ttl if control is not None and control.ttl else self.config.ttl
        return Claim(cache_key(request), read=read, store=store, ttl=ttl)

    @asynccontextmanager
    async def lookup(
        self, claim: Claim, until: float = math.inf
    ) -> AsyncIterator[CacheEntry | None]:
        """The cached entry, or None: then this request fetches the answer (and
        :meth:`store` it) inside the block, identical requests waiting for it meanwhile.
        Waiting for another request's answer ends at ``until`` (the request's deadline)."""
        entry = await self._find_or_lead(claim, until)
        if entry is not None:
            yield entry
            return
        try:
            yield None
        finally:
            await self._end_flight(claim)

    async def store(self, claim: Claim, entry: CacheEntry | None) -> None:
        """Write ``entry`` (None: the answer was not cacheable, nothing is written). Never
        raises for Redis being unavailable: the answer was served, only its entry is lost."""
        if entry is None or not claim.store:
            return
        if claim.flight is not None:
            claim.flight.entry = entry
        # The answer is already the caller's: Redis failing now loses the entry, not it.
        with suppress(SharedStateUnavailableError):
            await self.backend.set(claim.key, _ENCODER.encode(entry), claim.ttl)

    async def _get(self, key: str) -> CacheEntry | None:
        data = await self.backend.get(key)
        if data is None:
            return None
        try:
            return _DECODER.decode(data)
        except msgspec.DecodeError as exc:
            logger.warning("dropping a cache entry that does not decode: {}", exc)
            return None

    async def _find_or_lead(self, claim: Claim, until: float) -> CacheEntry | None:
        if not claim.read:
            return None  # a fresh answer is wanted: no reading, no waiting
        give_up = min(trio.current_time() + self.lock_timeout, until)
        while True:
            entry = await self._get(claim.key)
            if entry is not None:
                return entry
            flight = self._flights.get(claim.key)
            if flight is None:
                break
            if trio.current_time() >= give_up:
                return None  # the leader takes too long: fetch alone
            with trio.move_on_at(give_up):
                await flight.done.wait()
            if flight.entry is not None:
                return flight.entry
        claim.flight = self._flights[claim.key] = _Flight()
        try:
            return await self._lock_across_processes(claim, give_up)
        except BaseException:
            await self._end_flight(claim)
            raise

    async def _lock_across_processes(self, claim: Claim, give_up: float) -> CacheEntry | None:
        if not self.backend.shared:
            return None
        while True:
            claim.token = await self.backend.acquire(claim.key, self.lock_timeout)
            if claim.token is not None or trio.current_time() >= give_up:
                return None
            await trio.sleep(self.poll_interval)
            entry = await self._get(claim.key)
            if entry is not None:
                await self._end_flight(claim)
                return entry

    async def _end_flight(self, claim: Claim) -> None:
        flight, token = claim.flight, claim.token
        claim.flight = claim.token = None
        if flight is not None:
            if self._flights.get(claim.key) is flight:
                del self._flights[claim.key]
            flight.done.set()
        if token is not None:
            # Shielded: a cancelled leader still frees its followers at once. Bounded by the
            # Redis timeout; if Redis is gone, the lock expires by itself.
            with trio.CancelScope(shield=True), suppress(SharedStateUnavailableError):
                await self.backend.release(claim.key, token)


def open_cache(config: CacheConfig, redis: SharedRedis | None) -> ResponseCache | None:
    """The cache ``config`` asks for, or None when it is ``off``; the ``redis`` backend
    needs the hub's :class:`~hubactors.shared.SharedRedis`."""
    if config.backend == "off":
        return None
    if config.backend == "memory":
        return ResponseCache(config, MemoryBackend(config.max_bytes))
    if redis is None:
        raise ConfigError("the redis backend needs the hub's Redis", key="cache.backend")
    return ResponseCache(config, RedisBackend(redis))
