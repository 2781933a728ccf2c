"""``hubactors demo``: a hub of three simulated deployments under load, with injected faults.

``alpha`` crashes now and then (its actor is restarted by the supervisor), ``beta``
answers 429 with a Retry-After now and then, ``gamma`` is slow but steady. The route's
strategy spreads the load and failover hides every fault: each request succeeds while at
least one deployment is up.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

import trio

from hubactors.config import HubConfig, HubConfigBuilder
from hubactors.errors import HubError
from hubactors.hub._hub import Hub, open_hub
from hubactors.model._types import ChatRequest, Message

DEMO_ROUTE = "demo"


def demo_config(strategy: str = "failover", seed: int = 0) -> HubConfig:
    """The demo's hub: three simulated deployments behind one route."""
    return (
        HubConfigBuilder()
        .deployment(
            "alpha",
            provider="simulated",
            model="sim-large",
            priority=0,
            max_concurrency=16,
            simulation={"seed": seed, "latency": 0.03, "crash_rate": 0.01},
        )
        .deployment(
            "beta",
            provider="simulated",
            model="sim-large",
            priority=1,
            max_concurrency=16,
            simulation={
                "seed": seed + 1,
                "latency": 0.04,
                "rate_limit_rate": 0.15,
                "retry_after": 0.25,
            },
        )
        .deployment(
            "gamma",
            provider="simulated",
            model="sim-small",
            priority=2,
            max_concurrency=64,
            simulation={
                "seed": seed + 2,
                "latency": 0.08,
                "distribution": "uniform",
                "jitter": 0.02,
            },
        )
        .route(DEMO_ROUTE, ["alpha", "beta", "gamma"], strategy=strategy, timeout=30.0)
        .supervision(intensity=1000, period=10.0, backoff_initial=0.005, backoff_max=0.1)
        .set(shutdown_grace=2.0)
        .build()
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class DemoResult:
    """What the demo measured."""

    requests: int
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    served_latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cost: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def succeeded(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract."""
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
            "deployments": {
                name: {
                    "requests": info["requests"],
                    "errors": info["errors"],
                    "restarts": info["restarts"],
                    "cost": round(self.cost.get(name, 0.0), 8),
                }
                for name, info in self.deployments.items()
            },
        }


async def _worker(hub: Hub, jobs: trio.MemoryReceiveChannel[int], result: DemoResult) -> None:
    async for i in jobs:
        request = ChatRequest(
            model=DEMO_ROUTE,
            messages=[Message(role="user", content=f"Request {i}: say something short.")],
        )
        started = trio.current_time()
        try:
            response = await hub.complete(request)
        except HubError as exc:
            result.failures[type(exc).__name__] += 1
            continue
        elapsed = trio.current_time() - started
        result.latencies.append(elapsed)
        result.served_latency[response.deployment].append(elapsed)
        result.cost[response.deployment] += response.cost


def _progress_line(hub: Hub, result: DemoResult) -> str:
    done = result.succeeded + result.failed
    width = 24
    filled = int(width * done / max(1, result.requests))
    parts = [f"[{'#' * filled}{'.' * (width - filled)}] {done}/{result.requests}"]
    parts.append(f"ok {result.succeeded} failed {result.failed}")
    now = trio.current_time()
    for status in hub.status():
        state: list[str] = [status.breaker]
        if not status.up:
            state.append("restarting")
        elif status.breaker != "open" and now < status.cooldown_until:
            # An open breaker is published as a cooldown too; only a 429 is "cooling".
            state.append("cooling")
        if not status.healthy:
            state.append("unhealthy")
        parts.append(
            f"{status.name}: {','.join(state)} r={status.restarts} inflight={status.in_flight}"
        )
    return " | ".join(parts)


async def _show_progress(hub: Hub, result: DemoResult, out: TextIO) -> None:
    while True:
        out.write("\r\x1b[K" + _progress_line(hub, result))
        out.flush()
        await trio.sleep(0.1)


async def run_demo(
    *,
    requests: int = 200,
    concurrency: int = 16,
    strategy: str = "failover",
    seed: int = 0,
    progress: TextIO | None = None,
) -> DemoResult:
    """Run the demo and return its measurements."""
    result = DemoResult(requests=requests)
    async with open_hub(demo_config(strategy, seed)) as hub:
        send, receive = trio.open_memory_channel[int](concurrency)
        async with trio.open_nursery() as nursery:
            if progress is not None:
                nursery.start_soon(_show_progress, hub, result, progress)
            async with trio.open_nursery() as workers:
                for _ in range(max(1, concurrency)):
                    workers.start_soon(_worker, hub, receive.clone(), result)
                await receive.aclose()
                async with send:
                    for i in range(requests):
                        await send.send(i)
            nursery.cancel_scope.cancel()
        if progress is not None:
            progress.write("\r\x1b[K" + _progress_line(hub, result) + "\n")
        for status in hub.status():
            result.deployments[status.name] = {
                "requests": status.requests,
                "errors": status.errors,
                "restarts": status.restarts,
                "breaker": status.breaker,
            }
    return result


def format_table(result: DemoResult) -> str:
    """A table per deployment, then the totals."""
    header = f"{'deployment':<12}{'requests':>9}{'served':>8}{'errors':>8}{'restarts':>9}"
    header += f"{'p50 ms':>9}{'p99 ms':>9}{'cost $':>12}  breaker"
    lines = [header, "-" * len(header)]
    for name, info in result.deployments.items():
        served = result.served_latency.get(name, [])
        lines.append(
            f"{name:<12}{info['requests']:>9}{len(served):>8}{info['errors']:>8}"
            f"{info['restarts']:>9}{percentile(served, 0.5) * 1000:>9.1f}"
            f"{percentile(served, 0.99) * 1000:>9.1f}{result.cost.get(name, 0.0):>12.6f}"
            f"  {info['breaker']}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{result.requests} requests: {result.succeeded} succeeded, {result.failed} failed; "
        f"p50 {percentile(result.latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(result.latencies, 0.99) * 1000:.1f} ms, "
        f"cost ${sum(result.cost.values()):.6f}"
    )
    return "\n".join(lines)


def progress_stream() -> TextIO | None:
    """Where to draw live progress: stderr when it is a terminal, else nowhere."""
    return sys.stderr if sys.stderr.isatty() else None
