"""Breakers and ``Retry-After`` cooldowns shared by every hub process.

When one process's breaker of a deployment opens, or a provider tells it to wait, it
publishes the news on one Redis channel and keeps it in a key that expires with it; every
other process applies it to its own breaker and cooldown as the message arrives (within a
few milliseconds on a LAN), and a process that starts (or gets Redis back) reads the keys.
So a dead provider is found once, not once per worker.

Half-open admits one probe across all processes: when an open period ends, the processes
race for a probe key (``SET NX``, expiring after the open period so a probe lost with its
process is tried again); only the winner's breaker lets a probe through, and its outcome
is news again: closed (everyone closes) or open (everyone stays open).

While Redis is unavailable each process's breaker works alone, as without Redis (and a
half-open breaker probes on its own: a process must not stay shut because Redis is).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Literal

import msgspec
import trio

from hubactors._logging import logger
from hubactors.errors import SharedStateUnavailableError
from hubactors.resilience import BreakerState
from hubactors.shared._redis import Fallback, SharedRedis

if TYPE_CHECKING:
    import coredis

NewsKind = Literal["open", "cooldown", "closed"]


class BreakerNews(msgspec.Struct, frozen=True, array_like=True):
    """What one process tells the others about a deployment. ``until`` is the Unix time
    the open period or cooldown ends (``0.0`` for closed)."""

    deployment: str
    kind: NewsKind
    until: float
    origin: str


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(BreakerNews).decode


class SharedBreaker:
    """One deployment's link to the other processes; made by :class:`SharedBreakers`.

    The deployment's state calls :meth:`changed` on every transition of its breaker and
    :meth:`cooled` on a ``Retry-After``, asks :meth:`may_probe` before a half-open probe,
    and is told the others' news through the ``apply`` callback it :meth:`attach` es.
    """

    def __init__(self, hub: SharedBreakers, name: str, open_for: float) -> None:
        self._hub = hub
        self.name = name
        self._probe_ttl = max(1.0, open_for)
        self._apply: Callable[[BreakerNews, float], None] | None = None
        self._applying = False
        self._probe_owner = False
        self._race_started = -float("inf")

    def attach(self, apply: Callable[[BreakerNews, float], None]) -> None:
        """``apply(news, local_until)`` is called with every other process's news
        (``local_until`` is ``news.until`` on the Trio clock)."""
        self._apply = apply

    def receive(self, news: BreakerNews) -> None:
        if self._apply is None:
            return
        local_until = trio.current_time() + (news.until - time.time()) if news.until else 0.0
        if news.kind == "open":
            self._probe_owner = False
            self._race_at(local_until)
        self._applying = True
        try:
            self._apply(news, local_until)
        finally:
            self._applying = False

    def changed(self, old: BreakerState, new: BreakerState, opened_until: float | None) -> None:
        """This process's breaker went from ``old`` to ``new`` (news unless it was told)."""
        if self._applying or new is BreakerState.HALF_OPEN:
            return
        if new is BreakerState.OPEN and opened_until is not None:
            self._probe_owner = False
            self._hub.announce(self.name, "open", opened_until)
            self._race_at(opened_until)
        elif new is BreakerState.CLOSED:
            self._probe_owner = False
            self._hub.announce(self.name, "closed", 0.0)

    def cooled(self, until: float) -> None:
        """A provider's ``Retry-After`` rests the deployment until ``until`` (Trio clock)."""
        if not self._applying:
            self._hub.announce(self.name, "cooldown", until)

    def may_probe(self) -> bool:
        """Whether this process may send the half-open probe: it won the race for it, or
        Redis is unavailable (each process then probes on its own)."""
        if self._probe_owner or not self._hub.redis.available:
            return True
        now = trio.current_time()
        if now - self._race_started >= self._probe_ttl:
            self._race_at(now)  # nobody won, or the winner's probe key expired
        return False

    def _race_at(self, when: float) -> None:
        self._race_started = max(when, trio.current_time())
        self._hub.race(self, when)

    def won(self, owner: bool) -> None:
        self._probe_owner = owner


class SharedBreakers:
    """The news channel of one hub's deployments; :meth:`run` it in the hub's nursery."""

    def __init__(self, redis: SharedRedis) -> None:
        self.redis = redis
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._channel = redis.key("breakers")
        self._links: dict[str, SharedBreaker] = {}
        self._outbox_send, self._outbox = trio.open_memory_channel[BreakerNews](1024)
        self._races_send, self._races = trio.open_memory_channel[tuple[SharedBreaker, float]](1024)

    def link(self, name: str, open_for: float) -> SharedBreaker:
        """The link of the deployment called ``name``."""
        link = self._links[name] = SharedBreaker(self, name, open_for)
        return link

    def announce(self, name: str, kind: NewsKind, until: float) -> None:
        wall_until = time.time() + (until - trio.current_time()) if until else 0.0
        try:
            self._outbox_send.send_nowait(BreakerNews(name, kind, wall_until, self.origin))
        except trio.WouldBlock:
            logger.warning("breaker news backlogged: {} {} not shared", name, kind)

    def race(self, link: SharedBreaker, when: float) -> None:
        try:
            self._races_send.send_nowait((link, when))
        except trio.WouldBlock:
            link.won(True)  # no way to tell: better a probe too many than none

    def _key(self, name: str, kind: NewsKind = "open") -> str:
        return self.redis.key("cooldown" if kind == "cooldown" else "breaker", name)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Share news until cancelled: send ours, apply theirs, run probe races."""
        async with (
            self.redis.subscribe(self._channel) as messages,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._send_news)
            nursery.start_soon(self._run_races, nursery)
            await self._load()
            task_status.started()
            async for data in messages:
                try:
                    news = _decode(data)
                except msgspec.DecodeError:
                    continue
                self._deliver(news)

    def _deliver(self, news: BreakerNews) -> None:
        link = self._links.get(news.deployment)
        if link is not None and news.origin != self.origin:
            link.receive(news)

    async def _load(self) -> None:
        """Apply the news still current (a process starting, or Redis back)."""
        names = list(self._links)
        if not names:
            return
        keys = [self._key(name, kind) for name in names for kind in ("open", "cooldown")]
        try:
            values = await self.redis.call(lambda client: client.mget(keys))
        except SharedStateUnavailableError:
            return
        if isinstance(values, Fallback):
            return
        for value in values:
            if isinstance(value, bytes):
                try:
                    self._deliver(_decode(value))
                except msgspec.DecodeError:
                    continue

    async def _send_news(self) -> None:
        async for news in self._outbox:
            # Meanwhile each process's breaker works alone: nothing to do when this fails.
            with contextlib.suppress(SharedStateUnavailableError):
                await self.redis.call(partial(self._send, news))

    async def _send(self, news: BreakerNews, client: coredis.Redis[bytes]) -> int:
        key, data = self._key(news.deployment, news.kind), _encode(news)
        ttl_ms = int((news.until - time.time()) * 1000)
        if news.kind == "closed":
            await client.delete([key, key + ":probe"])
        else:
            if news.kind == "open":
                await client.delete([key + ":probe"])  # a new open period, a new race
            if ttl_ms > 0:
                await client.set(key, data, px=ttl_ms)
        return await client.publish(self._channel, data)

    async def _run_races(self, nursery: trio.Nursery) -> None:
        async for link, when in self._races:
            nursery.start_soon(self._race, link, when)

    async def _race(self, link: SharedBreaker, when: float) -> None:
        from coredis.tokens import PureToken

        await trio.sleep_until(when)
        key = self._key(link.name) + ":probe"
        ttl = int(link._probe_ttl * 1000)
        try:
            won = await self.redis.call(
                lambda client: client.set(key, self.origin, px=ttl, condition=PureToken.NX)
            )
        except SharedStateUnavailableError:
            return
        link.won(won is True)
