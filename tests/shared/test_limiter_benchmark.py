"""``benchmarks/overhead.py --shared-limiter`` measures the shared limiter on the real Redis
and reports every number."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "overhead.py"


async def test_the_shared_limiter_benchmark_reports_its_cost_and_goal(tmp_path: Path) -> None:
    out = tmp_path / "limiter.json"
    command = [sys.executable, str(SCRIPT), "--shared-limiter", "--requests", "200"]
    with trio.fail_after(30):
        done = await trio.run_process([*command, "--json", str(out)], capture_stdout=True)
    assert "shared limiter, concurrency 1" in done.stdout.decode()
    result = json.loads(out.read_text())["shared_limiter"]
    assert result["requests"] == 180
    assert 0 < result["local_p50_ms"] < result["shared_p50_ms"]
    assert result["goal_ms"] == 0.3
    assert isinstance(result["goal_met"], bool)
