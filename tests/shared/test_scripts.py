"""The shared limiter's Lua scripts, run on the real Redis: sliding windows of requests and
tokens timed by the server, with reservations settled or released by id."""

from __future__ import annotations

import time
import uuid

import coredis
import trio

from hubactors.shared._scripts import ADMIT, SETTLE
from tests.shared._support import redis_client, unique_prefix

WINDOW = 0.4


class Scripts:
    def __init__(self, client: coredis.Redis[bytes], rpm: float, tpm: float) -> None:
        prefix = unique_prefix()
        self.keys = [prefix + "rpm", prefix + "tpm", prefix + "tpm:n"]
        self.rpm, self.tpm = rpm, tpm
        self._admit = client.register_script(ADMIT)
        self._settle = client.register_script(SETTLE)

    async def admit(self, tokens: int = 0, *settlements: str | int) -> tuple[str | None, float]:
        """The id admitted (or None) and the server time, or the wait."""
        rid = uuid.uuid4().hex
        args = [WINDOW, self.rpm, self.tpm, tokens, rid, *settlements]
        ok, value = await self._admit(keys=self.keys, args=args)
        return (rid if ok == 1 else None), float(value)

    async def settle(self, rid: str, tokens: int) -> None:
        await self._settle(keys=self.keys, args=[rid, tokens])

    async def release(self, rid: str) -> None:
        await self._settle(keys=self.keys, args=[rid, -1])


async def test_requests_per_window_then_the_wait_until_the_oldest_leaves() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=3, tpm=-1)
        admitted = [await scripts.admit() for _ in range(3)]
        assert all(rid is not None for rid, _ in admitted)
        first_at = admitted[0][1]
        rid, wait = await scripts.admit()
        assert rid is None
        assert 0 < wait <= WINDOW
        await trio.sleep(wait + 0.01)
        rid, now = await scripts.admit()
        assert rid is not None
        assert now - first_at >= WINDOW


async def test_a_released_request_frees_its_place_at_once() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=1, tpm=-1)
        rid, _ = await scripts.admit()
        assert rid is not None
        assert (await scripts.admit())[0] is None
        await scripts.release(rid)
        assert (await scripts.admit())[0] is not None


async def test_tokens_are_reserved_then_settled_with_the_real_usage() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=-1, tpm=100)
        rid, _ = await scripts.admit(60)
        assert rid is not None
        rid2, wait = await scripts.admit(50)
        assert rid2 is None and 0 < wait <= WINDOW
        await scripts.settle(rid, 30)  # it used less than estimated: 70 are free again
        rid2, _ = await scripts.admit(50)
        assert rid2 is not None
        await scripts.settle(rid2, 70)  # it used more: the window is full
        assert (await scripts.admit(1))[0] is None
        await scripts.release(rid2)
        assert (await scripts.admit(70))[0] is not None


async def test_a_request_larger_than_the_limit_passes_alone_in_an_empty_window() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=-1, tpm=100)
        small, _ = await scripts.admit(10)
        assert small is not None
        assert (await scripts.admit(500))[0] is None
        await scripts.release(small)
        assert (await scripts.admit(500))[0] is not None


async def test_tokens_leave_the_window_with_their_request() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=-1, tpm=100)
        assert (await scripts.admit(100))[0] is not None
        rid, wait = await scripts.admit(100)
        assert rid is None
        await trio.sleep(wait + 0.01)
        assert (await scripts.admit(100))[0] is not None
        assert int(await client.hget(scripts.keys[2], "_sum") or 0) == 100


async def test_every_key_expires_one_window_after_its_last_write() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=5, tpm=100)
        assert (await scripts.admit(10))[0] is not None
        for key in scripts.keys:
            ttl = await client.pttl(key)
            assert 0 < ttl <= WINDOW * 1000 + 1000


async def test_admission_is_atomic_under_many_concurrent_callers() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=10, tpm=-1)
        admitted: list[str] = []

        async def one() -> None:
            rid, _ = await scripts.admit()
            if rid is not None:
                admitted.append(rid)

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(one)
        assert len(admitted) == 10
        assert await client.zcard(scripts.keys[0]) == 10


async def test_settlements_ride_along_with_the_next_admission_and_apply_first() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=2, tpm=100)
        first, _ = await scripts.admit(60)
        second, _ = await scripts.admit(40)
        assert first is not None and second is not None
        # The window is full on both counts, but the first settles at 10 and the second is
        # released in the same call: the third passes.
        third, _ = await scripts.admit(80, first, 10, second, -1)
        assert third is not None
        assert int(await client.hget(scripts.keys[2], "_sum") or 0) == 90
        assert await client.zcard(scripts.keys[0]) == 2
        # Sent twice (a call cancelled after Redis ran it), a settlement changes nothing.
        await scripts.settle(first, 10)
        await scripts.release(second)
        assert int(await client.hget(scripts.keys[2], "_sum") or 0) == 90


async def test_thousands_of_requests_in_the_window_expire_and_wait_in_batches() -> None:
    async with redis_client() as client:
        scripts = Scripts(client, rpm=-1, tpm=10_000)
        # 5000 requests of 2 tokens each fill the window, as many processes would.
        now = time.time()  # the Redis server runs on this host: the same clock
        members = {f"r{i}": now - 0.3 + i * 1e-5 for i in range(5000)}
        await client.zadd(scripts.keys[1], members)
        await client.hset(scripts.keys[2], {**dict.fromkeys(members, 2), "_sum": 10_000})
        rid, wait = await scripts.admit(3)
        assert rid is None  # the two oldest must leave first: ~0.1 s from now
        assert 0 < wait <= WINDOW
        await trio.sleep(WINDOW - 0.25)  # every one of them has left the window
        rid, _ = await scripts.admit(3)
        assert rid is not None
        assert int(await client.hget(scripts.keys[2], "_sum") or 0) == 3
        assert await client.zcard(scripts.keys[1]) == 1
