"""The response cache on Redis, real servers only: entries shared by hubs and by OS
processes, single flight across them, and Redis stopped mid-run in both ``on_error``
modes (served uncached with no hang, or refused at once; cached again once it is back)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from hubactors import open_hub
from hubactors.cache import cache_key
from hubactors.errors import SharedStateUnavailableError
from hubactors.model._convert import coerce_request
from hubactors.model._types import TextDelta
from tests.cache._upstream import ask, counting_upstream, hub_config
from tests.shared._support import REDIS_URL, RedisServer, redis_client, unique_prefix

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    async with redis_client() as client:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(keys)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.delenv("REDIS_URL", raising=False)  # the test's own server, not the shared one
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_hub(url: str, redis_url: str, prefix: str, **redis: object) -> dict[str, object]:
    return hub_config(url, backend="redis", redis={"url": redis_url, "key_prefix": prefix, **redis})


async def test_one_hub_reads_what_another_wrote(prefix: str) -> None:
    async with counting_upstream() as upstream:
        config = redis_hub(upstream.url, REDIS_URL, prefix)
        async with open_hub(config) as first, open_hub(config) as second:
            async with first.stream(ask()) as events:
                streamed = "".join([e.text async for e in events if isinstance(e, TextDelta)])
            response = await second.complete(ask())
            assert response.cached and response.text == streamed
            async with second.stream(ask()) as events:
                replayed = "".join([e.text async for e in events if isinstance(e, TextDelta)])
            assert events.cached and replayed == streamed
            assert upstream.count == 1


async def test_single_flight_across_hubs_under_fifty_identical_requests(prefix: str) -> None:
    async with counting_upstream(hang=0.3) as upstream:
        config = redis_hub(upstream.url, REDIS_URL, prefix)
        async with open_hub(config) as first, open_hub(config) as second:
            answers: list[bool] = []

            async def one(hub: object) -> None:
                answers.append((await hub.complete(ask())).cached)  # type: ignore[attr-defined]

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, first if i % 2 else second)
            assert upstream.count == 1
            assert answers.count(False) == 1


async def test_hits_across_os_processes(prefix: str) -> None:
    async with counting_upstream(hang=1.0) as upstream:
        config = json.dumps(redis_hub(upstream.url, REDIS_URL, prefix))
        outputs: list[bytes] = []

        async def worker() -> None:
            done = await trio.run_process(
                [sys.executable, "-m", "tests.cache._worker", config],
                cwd=ROOT,
                capture_stdout=True,
                env={**os.environ, "REDIS_URL": REDIS_URL},
            )
            outputs.append(done.stdout)

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(worker)
        answers = [json.loads(line) for out in outputs for line in out.splitlines()]
        assert len(answers) == 8
        assert upstream.count == 1  # one completion, by one process; everything else a hit
        assert sum(not answer["cached"] for answer in answers) == 1
        assert len({answer["text"] for answer in answers}) == 1


async def test_redis_stopped_mid_run_serves_uncached_and_caches_again_once_back(
    server: RedisServer,
) -> None:
    await server.wait_ready()
    async with (
        counting_upstream() as upstream,
        open_hub(redis_hub(upstream.url, server.url, "t:")) as hub,
    ):
        await hub.complete(ask())
        assert (await hub.complete(ask())).cached
        server.stop()
        for _ in range(3):
            with trio.fail_after(2):
                assert not (await hub.complete(ask())).cached
        assert upstream.count == 4
        assert "hubactors_redis_up 0.0" in hub.metrics_text()
        server.start()
        await server.wait_ready()
        with trio.fail_after(10):
            while "hubactors_redis_up 1.0" not in hub.metrics_text():  # noqa: ASYNC110
                await trio.sleep(0.05)
        await hub.complete(ask())  # the restarted server is empty
        assert (await hub.complete(ask())).cached


async def test_redis_stopped_mid_run_with_on_error_closed_refuses_at_once(
    server: RedisServer,
) -> None:
    await server.wait_ready()
    async with counting_upstream() as upstream:
        config = redis_hub(upstream.url, server.url, "t:", on_error="closed")
        async with open_hub(config) as hub:
            await hub.complete(ask())
            server.stop()
            for _ in range(3):
                with trio.fail_after(1), pytest.raises(SharedStateUnavailableError):
                    await hub.complete(ask())
            assert upstream.count == 1


async def test_the_lock_of_a_leader_that_died_holds_followers_only_until_it_expires(
    prefix: str,
) -> None:
    key = cache_key(coerce_request(ask()))
    async with redis_client() as client:
        # Another process took the lock and died before it wrote anything.
        await client.set(f"{prefix}cache:{key}:lock", "gone", px=300)
    async with (
        counting_upstream() as upstream,
        open_hub(redis_hub(upstream.url, REDIS_URL, prefix)) as hub,
    ):
        started = trio.current_time()
        with trio.fail_after(5):
            response = await hub.complete(ask())
        assert not response.cached and upstream.count == 1
        assert trio.current_time() - started >= 0.25  # it waited for the lock, then led
        assert (await hub.complete(ask())).cached


async def test_an_answer_is_still_returned_when_redis_dies_while_it_is_fetched(
    server: RedisServer,
) -> None:
    await server.wait_ready()
    async with counting_upstream(hang=0.3) as upstream:
        config = redis_hub(upstream.url, server.url, "t:", on_error="closed")
        async with open_hub(config) as hub, trio.open_nursery() as nursery:
            answers: list[object] = []

            async def one() -> None:
                answers.append(await hub.complete(ask()))

            nursery.start_soon(one)
            await upstream.wait_for("requests", 1)
            server.stop()
        assert len(answers) == 1 and not answers[0].cached  # type: ignore[attr-defined]
