"""What the hub adds on top of a provider call: router ask, actor ask, limiter, breaker, metrics.

Runs the same zero-latency simulated deployment two ways in one process, side by side:
``direct`` calls the provider object; ``hub`` goes through ``hub.complete`` (validation,
router actor, provider actor, breaker, rate limiter, status board, metrics). Reports the
per-request time of each and the overhead in microseconds, at concurrency 1 and N.

    python benchmarks/hub_overhead.py [--requests 5000] [--concurrency 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import trio

import hubactors
from hubactors.providers.simulated import SimulatedProvider

REQUEST = hubactors.ChatRequest(
    model="bench",
    messages=[hubactors.Message(role="user", content="Say hello in one short sentence.")],
)


def config() -> hubactors.HubConfig:
    return (
        hubactors.HubConfigBuilder()
        .deployment(
            "sim",
            provider="simulated",
            model="sim-fast",
            max_concurrency=10_000,
            simulation={"latency": 0.0, "distribution": "fixed", "output_tokens": 8},
        )
        .route("bench", ["sim"], strategy="priority")
        .build()
    )


async def run_many(call, requests: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return (time.perf_counter() - started) / (per_worker * concurrency)


async def measure(requests: int, concurrency: int) -> tuple[float, float]:
    cfg = config()
    provider = SimulatedProvider(cfg.deployments[0])
    async with hubactors.open_hub(cfg) as hub:

        async def direct() -> None:
            await provider.complete(REQUEST)

        async def through_hub() -> None:
            await hub.complete(REQUEST)

        await run_many(through_hub, 200, 1)  # warm up
        direct_s = await run_many(direct, requests, concurrency)
        hub_s = await run_many(through_hub, requests, concurrency)
    return direct_s, hub_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'concurrency':>11} {'direct µs':>10} {'hub µs':>9} {'overhead µs':>12} {'ratio':>6}")
    for concurrency in (1, args.concurrency):
        rounds = [trio.run(measure, args.requests, concurrency) for _ in range(args.rounds)]
        direct = statistics.median(r[0] for r in rounds) * 1e6
        hub = statistics.median(r[1] for r in rounds) * 1e6
        overhead, ratio = hub - direct, hub / direct
        print(f"{concurrency:>11} {direct:>10.1f} {hub:>9.1f} {overhead:>12.1f} {ratio:>6.1f}")


if __name__ == "__main__":
    main()
