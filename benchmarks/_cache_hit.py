"""What a response-cache hit costs: ``hub.complete`` answered from the memory cache and from
the Redis at ``REDIS_URL``, against one direct HTTP request to the mock upstream, at
concurrency 1, back to back.

    python benchmarks/overhead.py --cache-hit [--requests N]
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio

from hubactors import ChatRequest, Message, open_hub
from hubactors.shared import SharedRedis

GOAL_US = 50.0
"""The issue's goal: a memory cache hit costs under this much (p50)."""


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(call: Callable[[], Awaitable[object]], requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples[requests // 10 :]  # the first tenth warms connections and caches


def _config(port: int, backend: str, prefix: str) -> dict[str, Any]:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return {
        "deployments": [
            {
                "name": "mock",
                "provider": "openai-compatible",
                "model": "bench-model",
                "base_url": f"http://127.0.0.1:{port}/v1",
            }
        ],
        "routes": [{"name": "chat", "deployments": ["mock"]}],
        "cache": {"backend": backend},
        "redis": {"url": url, "key_prefix": prefix},
    }


async def _forget(redis: SharedRedis, prefix: str) -> None:
    """Delete what the benchmark wrote to Redis."""
    keys = await redis.call(lambda client: client.keys(prefix + "*"))
    if keys:
        await redis.call(lambda client: client.delete(list(keys)))


async def _run(port: int, requests: int) -> dict[str, Any]:
    request = ChatRequest(model="chat", messages=[Message(role="user", content="Say hello.")])
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}]}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        direct = await _measure(lambda: client.post("/v1/chat/completions", json=body), requests)
    timings = {"direct": direct}
    prefix = f"hubactors-bench:{uuid.uuid4().hex[:8]}:"
    for backend in ("memory", "redis"):
        async with open_hub(_config(port, backend, prefix)) as hub:
            await hub.complete(request)  # the one miss: it fills the cache
            timings[backend] = await _measure(lambda: hub.complete(request), requests)
            if hub.shared.redis is not None:
                await _forget(hub.shared.redis, prefix)
    p50 = {name: _percentile(samples, 0.5) * 1e6 for name, samples in timings.items()}
    return {
        "requests": len(direct),
        "direct_p50_us": p50["direct"],
        "memory_hit_p50_us": p50["memory"],
        "memory_hit_p99_us": _percentile(timings["memory"], 0.99) * 1e6,
        "redis_hit_p50_us": p50["redis"],
        "redis_hit_p99_us": _percentile(timings["redis"], 0.99) * 1e6,
        "goal_us": GOAL_US,
        "goal_met": p50["memory"] < GOAL_US,
    }


def run_cache_hit(port: int, requests: int) -> dict[str, Any]:
    """Measure against the mock upstream on ``port``; the numbers in microseconds."""
    return trio.run(_run, port, requests)


def render_cache_hit(result: dict[str, Any]) -> str:
    verdict = "met" if result["goal_met"] else "MISSED"
    return (
        f"cache hit, concurrency 1, {result['requests']} requests: memory p50 "
        f"{result['memory_hit_p50_us']:.1f} us (p99 {result['memory_hit_p99_us']:.1f}), "
        f"Redis p50 {result['redis_hit_p50_us']:.1f} us (p99 {result['redis_hit_p99_us']:.1f}), "
        f"direct HTTP p50 {result['direct_p50_us']:.1f} us "
        f"(goal: memory hit < {result['goal_us']:.0f} us: {verdict})"
    )
