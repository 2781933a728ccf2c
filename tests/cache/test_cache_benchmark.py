"""``benchmarks/overhead.py --cache-hit`` measures cache hits (memory and the real Redis)
against direct HTTP and reports every number."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "overhead.py"


async def test_the_cache_hit_benchmark_reports_its_cost_and_goal(tmp_path: Path) -> None:
    out = tmp_path / "cache.json"
    command = [sys.executable, str(SCRIPT), "--cache-hit", "--requests", "200"]
    with trio.fail_after(60):
        done = await trio.run_process([*command, "--json", str(out)], capture_stdout=True)
    assert "cache hit, concurrency 1" in done.stdout.decode()
    result = json.loads(out.read_text())["cache_hit"]
    assert result["requests"] == 180
    for name in ("direct_p50_us", "memory_hit_p50_us", "redis_hit_p50_us"):
        assert result[name] > 0, name
    assert result["memory_hit_p50_us"] < result["redis_hit_p50_us"]
    assert result["goal_us"] == 50.0
    assert isinstance(result["goal_met"], bool)
