"""The overhead benchmark runs end to end on tiny settings and reports every number."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "overhead.py"

CELL_KEYS = {
    "mode",
    "concurrency",
    "target",
    "requests",
    "errors",
    "first_error",
    "elapsed_s",
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "ttfc_p50_ms",
    "ttfc_p99_ms",
    "cpu_us_per_request",
    "peak_rss_mb",
    "upstream_connections",
    "mock_cpu_percent",
    "mock_cpu_us_per_request",
    "rounds",
}
COMPARISON_KEYS = {"requests_per_s", "cpu_per_request", "added_p50_ms", "added_ttfc_p50_ms"}


async def test_overhead_benchmark_reports_every_cell_ratio_and_goal(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    command = [sys.executable, str(SCRIPT), "--targets", "direct,hub", "--concurrency", "2"]
    command += ["--requests", "20", "--duration", "5", "--warmup", "0", "--rounds", "1"]
    with trio.fail_after(60):
        done = await trio.run_process(
            [*command, "--json", str(out)], capture_stdout=True, capture_stderr=True
        )
    report = json.loads(out.read_text())

    assert set(report) >= {"machine", "settings", "cells", "ratios", "goals"}
    assert set(report["machine"]["versions"]) >= {"httpx", "httpcore", "trio", "hubactors"}
    cells = {(c["mode"], c["target"]): c for c in report["cells"]}
    assert set(cells) == {(m, t) for m in ("complete", "stream") for t in ("direct", "hub")}
    for cell in cells.values():
        assert set(cell) == CELL_KEYS
        assert (cell["requests"], cell["errors"]) == (20, 0), cell["first_error"]
        assert cell["cpu_us_per_request"] > 0
    assert cells[("stream", "hub")]["ttfc_p50_ms"] is not None
    assert cells[("complete", "hub")]["ttfc_p50_ms"] is None
    for row in report["ratios"]:
        assert set(row["hub_vs_direct"]) == COMPARISON_KEYS
        assert row["hub_vs_litellm"] is None
    assert {g["goal"] for g in report["goals"]} == {
        "complete c=2: requests/s >= direct",
        "stream c=2: requests/s >= direct",
    }
    assert b"req/s hub/direct" in done.stdout
