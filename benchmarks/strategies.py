"""Compare routing strategies on one simulated fleet, side by side, in virtual time.

Three deployments with different prices, latencies and faults serve the same request load
under each strategy. The run uses ``trio.testing.MockClock`` with autojump, so simulated
latencies cost no wall time and every strategy sees exactly the same seeded fleet: the
numbers compare strategies, not machine noise.

    python benchmarks/strategies.py [--requests 2000] [--concurrency 32] [--seed 7]
"""

from __future__ import annotations

import argparse
from collections import Counter

import trio
import trio.testing

import hubactors
from hubactors.cli._demo import percentile
from hubactors.routing import STRATEGY_NAMES


def fleet(strategy: str, seed: int) -> hubactors.HubConfig:
    return (
        hubactors.HubConfigBuilder()
        .deployment(
            "fast-pricey",
            provider="simulated",
            model="sim-large",
            input_cost_per_mtok=2.5,
            output_cost_per_mtok=10.0,
            max_concurrency=16,
            simulation={"seed": seed, "latency": 0.20, "error_rate": 0.01},
        )
        .deployment(
            "cheap-slow",
            provider="simulated",
            model="sim-small",
            input_cost_per_mtok=0.15,
            output_cost_per_mtok=0.60,
            max_concurrency=16,
            priority=1,
            weight=2.0,
            simulation={"seed": seed + 1, "latency": 0.90, "error_rate": 0.02},
        )
        .deployment(
            "flaky",
            provider="simulated",
            model="sim-fast",
            input_cost_per_mtok=0.5,
            output_cost_per_mtok=1.5,
            max_concurrency=16,
            priority=2,
            simulation={
                "seed": seed + 2,
                "latency": 0.35,
                "error_rate": 0.15,
                "rate_limit_rate": 0.05,
                "retry_after": 2.0,
            },
        )
        .route("bench", ["fast-pricey", "cheap-slow", "flaky"], strategy=strategy, timeout=60.0)
        .build()
    )


async def run_strategy(
    strategy: str, requests: int, concurrency: int, seed: int
) -> dict[str, object]:
    latencies: list[float] = []
    served: Counter[str] = Counter()
    failures = 0
    cost = 0.0
    attempts = 0
    async with hubactors.open_hub(fleet(strategy, seed)) as hub:
        send, receive = trio.open_memory_channel[int](0)

        async def worker(jobs: trio.MemoryReceiveChannel[int]) -> None:
            nonlocal failures, cost, attempts
            async for i in jobs:
                started = trio.current_time()
                try:
                    response = await hub.complete(
                        {"model": "bench", "messages": [{"role": "user", "content": f"q{i}"}]}
                    )
                except hubactors.HubError:
                    failures += 1
                    continue
                latencies.append(trio.current_time() - started)
                served[response.deployment] += 1
                cost += response.cost
                attempts += response.attempts

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker, receive.clone())
            await receive.aclose()
            async with send:
                for i in range(requests):
                    await send.send(i)
    ok = len(latencies)
    return {
        "strategy": strategy,
        "success": ok / requests,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "cost_per_1k": cost / max(1, ok) * 1000,
        "attempts": attempts / max(1, ok),
        "served": dict(served),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"{'strategy':<12}{'success':>9}{'p50 s':>8}{'p99 s':>8}{'$/1k req':>10}"
        f"{'tries':>7}  served by"
    )
    for strategy in sorted(STRATEGY_NAMES):
        row = trio.run(
            run_strategy,
            strategy,
            args.requests,
            args.concurrency,
            args.seed,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
        print(
            f"{row['strategy']:<12}{row['success']:>9.2%}{row['p50']:>8.2f}{row['p99']:>8.2f}"
            f"{row['cost_per_1k']:>10.4f}{row['attempts']:>7.2f}  {row['served']}"
        )


if __name__ == "__main__":
    main()
