"""``[limits] scope = "redis"``: every process's requests to a deployment count against one
rpm/tpm, held in the real Redis. Real time throughout (Redis times the windows), with the
limits' window shortened to a second."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

import hubactors
from hubactors.errors import HubError, LocalRateLimitError
from hubactors.shared import _limiter
from tests.shared._support import REDIS_URL, redis_client, unique_prefix
from tests.shared._upstream import most_in_any_window, upstream

ROOT = Path(__file__).resolve().parents[2]
WINDOW = 1.0
# Requests reach the upstream a few milliseconds after Redis admitted them, not all equally
# late: windows at the upstream are judged this much shorter than Redis's.
JITTER = 0.1


def shared_config(
    url: str, prefix: str, *, redis_url: str = REDIS_URL, timeout: float = 1.6, **deployment: Any
) -> dict[str, Any]:
    return {
        "redis": {"url": redis_url, "key_prefix": prefix, "timeout": 0.2},
        "limits": {"scope": "redis"},
        "deployments": [
            {
                "name": "a",
                "provider": "openai-compatible",
                "model": "gpt-4.1-nano",
                "base_url": url,
                **deployment,
            }
        ],
        "routes": [{"name": "chat", "deployments": ["a"], "timeout": timeout}],
    }


def ask(i: int = 0) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": f"hello {i}"}]}


@pytest.fixture
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limiter, "WINDOW", WINDOW)


async def test_four_processes_share_one_rpm_over_two_windows() -> None:
    processes, per_process = 4, 8
    async with upstream() as server:
        config = json.dumps(shared_config(server.url, unique_prefix(), rpm=10))
        start = time.time() + 3.0  # every process is up by then, even on a busy machine
        results: list[dict[str, Any]] = []

        async def worker() -> None:
            argv = [sys.executable, "-m", "tests.shared._worker", config, str(start)]
            argv += [str(per_process), str(WINDOW)]
            done = await trio.run_process(argv, cwd=ROOT, capture_stdout=True, check=True)
            results.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(processes):
                    nursery.start_soon(worker)

    served = sum(r["served"] for r in results)
    errors = sum(sum(r["errors"].values()) for r in results)
    # Nothing lost: every request was served or refused with a typed error...
    assert served + errors == processes * per_process
    for result in results:
        assert set(result["errors"]) <= {"LocalRateLimitError", "TotalTimeoutError"}, result
    # ...each served one reached the upstream once, and no window saw more than the limit.
    assert len(server.arrivals) == served
    assert most_in_any_window(server.arrivals, WINDOW - JITTER) <= 10
    # Both windows were used to the full: 10 at the start, 10 a window later (more only
    # when a process slow to start sent its requests, and their deadlines, later).
    assert served >= 20


async def test_a_request_waits_for_the_shared_window_within_its_deadline(
    short_window: None,
) -> None:
    async with upstream() as server:
        config = shared_config(server.url, unique_prefix(), rpm=2)
        async with hubactors.open_hub(config) as hub:
            started = trio.current_time()
            await hub.complete(ask(1))
            await hub.complete(ask(2))
            await hub.complete(ask(3))  # waits for the first to leave the window
            assert trio.current_time() - started >= WINDOW - 0.05
        assert len(server.arrivals) == 3


async def test_a_request_the_window_cannot_admit_before_its_deadline_is_refused_at_once(
    short_window: None,
) -> None:
    async with upstream() as server:
        config = shared_config(server.url, unique_prefix(), rpm=1, timeout=0.3)
        async with hubactors.open_hub(config) as hub:
            await hub.complete(ask())
            started = trio.current_time()
            with pytest.raises(HubError) as caught:
                await hub.complete(ask())
            assert trio.current_time() - started < 0.35
            assert isinstance(caught.value, LocalRateLimitError | hubactors.TotalTimeoutError)
        assert len(server.arrivals) == 1


async def test_two_hubs_count_tokens_against_one_tpm_and_settle_with_the_real_usage(
    short_window: None,
) -> None:
    prefix = unique_prefix()
    async with upstream() as server:
        config = shared_config(server.url, prefix, tpm=100_000)
        async with hubactors.open_hub(config) as one, hubactors.open_hub(config) as two:
            await one.complete(ask(1))
            await two.complete(ask(2))
            await trio.sleep(0.05)  # settlements are sent in the background
            async with redis_client() as client:
                total = await client.hget(prefix + "limits:a:tpm:tokens", "_sum")
        # The fixture's answer used 379 tokens; both are counted, at their real usage.
        assert total is not None and int(total) == 2 * 379


async def test_nothing_limited_means_nothing_is_sent_to_redis() -> None:
    prefix = unique_prefix()
    async with upstream() as server:
        async with hubactors.open_hub(shared_config(server.url, prefix)) as hub:
            await hub.complete(ask())
        async with redis_client() as client:
            assert await client.keys(prefix + "*") == set()


async def test_only_a_real_wait_for_the_shared_window_is_a_rate_limit_wait(
    short_window: None,
) -> None:
    async with upstream() as server:
        config = shared_config(server.url, unique_prefix(), rpm=2)
        async with hubactors.open_hub(config) as hub:
            await hub.complete(ask(1))
            await hub.complete(ask(2))
            text = hub.metrics_text()
            assert 'hubactors_rate_limit_wait_seconds_count{deployment="a"} 0.0' in text
            await hub.complete(ask(3))  # waits for the window
            text = hub.metrics_text()
            assert 'hubactors_rate_limit_wait_seconds_count{deployment="a"} 1.0' in text
