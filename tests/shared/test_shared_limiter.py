"""The shared limiter itself, on the real Redis: waiters of one process in line, and a
waiter that gives up takes nothing from any process's window."""

from __future__ import annotations

import trio

from hubactors.config import DeploymentConfig, RedisConfig
from hubactors.shared import SharedRateLimiter, SharedRedis, SharedReservation
from tests.shared._support import REDIS_URL, redis_client, unique_prefix

WINDOW = 0.5


def deployment(**limits: int) -> DeploymentConfig:
    return DeploymentConfig(
        name="a",
        provider="openai-compatible",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        **limits,  # type: ignore[arg-type]
    )


async def test_waiters_are_served_in_order_and_one_that_gives_up_takes_nothing() -> None:
    prefix = unique_prefix()
    async with SharedRedis.open(RedisConfig(url=REDIS_URL, key_prefix=prefix)) as redis:
        limiter = SharedRateLimiter(deployment(rpm=1), redis, window=WINDOW)
        order: list[int] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(limiter.run)
            first = await limiter.acquire(0)
            assert isinstance(first, SharedReservation)

            async def wait(i: int, scope: trio.CancelScope | None = None) -> None:
                with scope or trio.CancelScope():
                    await limiter.acquire(0)
                    order.append(i)

            gives_up = trio.CancelScope()
            nursery.start_soon(wait, 1, gives_up)
            await trio.sleep(0.01)
            nursery.start_soon(wait, 2)
            await trio.sleep(0.01)
            nursery.start_soon(wait, 3)
            await trio.sleep(0.1)
            gives_up.cancel()  # the head of the line leaves: the next takes its place
            with trio.fail_after(3 * WINDOW):
                while len(order) < 2:  # noqa: ASYNC110 - the window lets one in per WINDOW
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
        assert order == [2, 3]
        async with redis_client() as client:
            # Every entry in the window is one that was admitted: the one that gave up is not.
            assert await client.zcard(prefix + "limits:a:rpm") <= 1


async def test_a_release_gives_the_place_back_to_every_process_at_once() -> None:
    prefix = unique_prefix()
    async with SharedRedis.open(RedisConfig(url=REDIS_URL, key_prefix=prefix)) as redis:
        one = SharedRateLimiter(deployment(rpm=1, tpm=1000), redis, window=60.0)
        two = SharedRateLimiter(deployment(rpm=1, tpm=1000), redis, window=60.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one.run)
            reservation = await one.acquire(500)
            assert isinstance(two.try_acquire(10), float)  # the shared path: ask Redis
            reservation.release()  # never sent: the place goes back
            with trio.fail_after(1.0):
                got = await two.acquire(900)
            assert isinstance(got, SharedReservation)
            nursery.cancel_scope.cancel()


async def test_settlements_still_waiting_are_sent_when_the_hub_stops() -> None:
    prefix = unique_prefix()
    async with SharedRedis.open(RedisConfig(url=REDIS_URL, key_prefix=prefix)) as redis:
        limiter = SharedRateLimiter(deployment(tpm=1000), redis, window=60.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(limiter.run)
            reservation = await limiter.acquire(400)
            reservation.settle(25)
            nursery.cancel_scope.cancel()  # before the settlement's own flush was due
        async with redis_client() as client:
            assert await client.hget(prefix + "limits:a:tpm:tokens", "_sum") == b"25"
