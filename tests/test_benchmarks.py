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


SERVER_KEYS = {
    "server_cpu_us_per_request",
    "server_cpu_percent",
    "server_peak_rss_mb",
    "server_exit_codes",
}


async def test_server_targets_measure_the_server_process_and_its_clean_exit(
    tmp_path: Path,
) -> None:
    out = tmp_path / "overhead.json"
    command = [sys.executable, str(SCRIPT), "--targets", "sdk-direct,sdk-server,ws"]
    command += ["--modes", "stream", "--concurrency", "1", "--requests", "10"]
    command += ["--duration", "5", "--warmup", "0", "--rounds", "1"]
    with trio.fail_after(60):
        done = await trio.run_process(
            [*command, "--json", str(out)], capture_stdout=True, capture_stderr=True
        )
    report = json.loads(out.read_text())

    assert set(report["machine"]["versions"]) >= {"openai", "websockets", "hypercorn"}
    cells = {c["target"]: c for c in report["cells"]}
    assert set(cells) == {"sdk-direct", "sdk-server", "ws"}
    for cell in cells.values():
        assert (cell["requests"], cell["errors"]) == (10, 0), cell["first_error"]
        assert cell["ttfc_p50_ms"] is not None
    assert set(cells["sdk-direct"]) == CELL_KEYS
    assert set(cells["sdk-server"]) == CELL_KEYS | SERVER_KEYS
    assert set(cells["ws"]) == CELL_KEYS | SERVER_KEYS | {"ws_connections"}
    for served in (cells["sdk-server"], cells["ws"]):
        assert served["server_exit_codes"] == [0]  # SIGTERM drained it
        assert served["server_cpu_us_per_request"] > 0
        assert served["server_peak_rss_mb"] > 0
    (row,) = report["server_ratios"]
    assert set(row["server_vs_sdk_direct"]) == {
        "requests_per_s",
        "added_p50_ms",
        "added_ttfc_p50_ms",
    }
    assert set(row["ws"]) == {"requests_per_s", "p50_ms", "vs_sdk_server", "vs_sdk_direct"}
    assert [g["goal"] for g in report["goals"]] == [
        "stream c=1: sdk-server added p50 over sdk-direct < 1 ms"
    ]
    assert b"req/s server/direct" in done.stdout


async def test_ws_soak_watches_the_server_and_finds_nothing_left(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(SCRIPT), "--ws-soak", "0.5", "--streams", "8"]
    command += ["--ws-per-connection", "4", "--sample-every", "0.1"]
    with trio.fail_after(60):
        done = await trio.run_process(
            [*command, "--json", str(out)], capture_stdout=True, capture_stderr=True
        )
    report = json.loads(out.read_text())

    soak = report["ws_soak"]
    client = soak["client"]
    assert (client["connections"], client["errors"]) == (2, 0), client["first_error"]
    assert client["streams"] >= 8 and client["connections_closed_early"] == 0
    assert soak["server_rss_samples"] and soak["server_peak_rss_mb"] > 0
    assert set(soak["server_holds_after_clients"].values()) == {0.0}
    tcp = soak["server_tcp_after_clients"]
    assert (tcp["websocket"], tcp["http_open"], tcp["other"]) == (0, 0, 0)
    assert tcp["upstream"] == soak["upstream_open_before_stop"] > 0  # only the pool is left
    assert soak["server_exit_code"] == 0
    assert soak["upstream_open_after_exit"] == 0 and soak["ports_closed_after_exit"]
    assert len(report["goals"]) == 4
    assert b"ws soak: 8 concurrent streams over 2 WebSocket connections" in done.stdout
