"""Turning the runs of ``overhead.py`` into cells, ratios, goals, a table and a plot."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

TARGETS = ("direct", "hub", "hub-httpx", "litellm", "sdk-direct", "sdk-server", "ws")
"""``hub-httpx`` is the hub with its deployment on the httpx client (``transport = "httpx"``):
the comparison that chose the h11 client as the default. ``sdk-direct`` is the OpenAI SDK on
the mock, ``sdk-server`` the same SDK through ``hubactors serve``, ``ws`` WebSocket clients
of ``hubactors serve``."""
SERVER_TARGETS = ("sdk-server", "ws")
"""The targets that run through a ``hubactors serve`` process of their own."""
MODES = ("complete", "stream")
FLAT_RSS_MB_PER_MIN = 0.1
"""A soak's RSS is flat when its slope after warm-up stays under this (1 MB in 10 min)."""


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One (mode, concurrency, target) cell from its rounds: totals over all of them,
    percentiles over every request of every round."""
    first = runs[0]
    latencies = [x for run in runs for x in run.get("latencies", [])]
    ttfcs = [x for run in runs for x in run.get("ttfcs", [])]
    requests = len(latencies)
    elapsed = sum(run.get("elapsed_s", 0.0) for run in runs)
    cpu = sum(run.get("cpu_s", 0.0) for run in runs)
    mock_cpu = sum(run.get("mock", {}).get("cpu_s", 0.0) for run in runs)
    mock_requests = sum(run.get("mock", {}).get("requests", 0) for run in runs)
    return {
        "mode": first["mode"],
        "concurrency": first["concurrency"],
        "target": first["target"],
        "requests": requests,
        "errors": sum(run.get("errors", 0) for run in runs),
        "first_error": next((r["first_error"] for r in runs if r.get("first_error")), None),
        "elapsed_s": elapsed,
        "requests_per_s": requests / elapsed if elapsed > 0 else None,
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "ttfc_p50_ms": _ms(percentile(ttfcs, 0.50)),
        "ttfc_p99_ms": _ms(percentile(ttfcs, 0.99)),
        "cpu_us_per_request": cpu / requests * 1e6 if requests else None,
        "peak_rss_mb": max((run.get("peak_rss_mb", 0.0) for run in runs), default=None),
        "upstream_connections": sum(run.get("mock", {}).get("connections", 0) for run in runs),
        "mock_cpu_percent": 100 * mock_cpu / elapsed if elapsed > 0 else None,
        "mock_cpu_us_per_request": mock_cpu / mock_requests * 1e6 if mock_requests else None,
        "rounds": [_round(run) for run in runs],
    } | (_server_cell(runs, requests, elapsed) if first["target"] in SERVER_TARGETS else {})


def _server_cell(runs: list[dict[str, Any]], requests: int, elapsed: float) -> dict[str, Any]:
    """What the ``hubactors serve`` processes of a cell's runs used, and how each exited."""
    cpu = sum(run.get("server", {}).get("cpu_s", 0.0) for run in runs)
    return {
        "server_cpu_us_per_request": cpu / requests * 1e6 if requests else None,
        "server_cpu_percent": 100 * cpu / elapsed if elapsed > 0 else None,
        "server_peak_rss_mb": max(
            (run.get("server", {}).get("peak_rss_mb") or 0.0 for run in runs), default=None
        ),
        "server_exit_codes": [run.get("server_exit_code") for run in runs],
    } | ({"ws_connections": runs[0].get("ws_connections")} if runs[0]["target"] == "ws" else {})


def _round(run: dict[str, Any]) -> dict[str, Any]:
    latencies, ttfcs = run.get("latencies", []), run.get("ttfcs", [])
    elapsed = run.get("elapsed_s")
    return {
        "requests": len(latencies),
        "errors": run.get("errors", 0),
        "requests_per_s": len(latencies) / elapsed if elapsed else None,
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "ttfc_p50_ms": _ms(percentile(ttfcs, 0.50)),
        "cpu_us_per_request": run["cpu_s"] / len(latencies) * 1e6 if latencies else None,
        "peak_rss_mb": run.get("peak_rss_mb"),
        "mock": run.get("mock"),
    } | ({"server": run["server"]} if "server" in run else {})


def _paired(hub: dict[str, Any], base: dict[str, Any], key: str, *, ratio: bool) -> float | None:
    """The median over rounds of hub/base (or hub - base): each round ran the targets back
    to back, so the two values of a pair share that moment's machine noise."""
    values = []
    for h, b in zip(hub["rounds"], base["rounds"], strict=False):
        if h[key] is None or b[key] is None or (ratio and not b[key]):
            continue
        values.append(h[key] / b[key] if ratio else h[key] - b[key])
    return statistics.median(values) if values else None


def ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (mode, concurrency): the hub against direct httpx and against LiteLLM, each a
    median of per-round ratios (or differences, for the added latencies)."""
    by_key = {(c["mode"], c["concurrency"], c["target"]): c for c in cells}
    rows = []
    for mode, concurrency in sorted({(c["mode"], c["concurrency"]) for c in cells}):
        hub = by_key.get((mode, concurrency, "hub"))
        if hub is None:
            continue
        row: dict[str, Any] = {"mode": mode, "concurrency": concurrency}
        for other in ("direct", "litellm"):
            base = by_key.get((mode, concurrency, other))
            row[f"hub_vs_{other}"] = None
            if base is not None:
                row[f"hub_vs_{other}"] = {
                    "requests_per_s": _paired(hub, base, "requests_per_s", ratio=True),
                    "cpu_per_request": _paired(hub, base, "cpu_us_per_request", ratio=True),
                    "added_p50_ms": _paired(hub, base, "p50_ms", ratio=False),
                    "added_ttfc_p50_ms": _paired(hub, base, "ttfc_p50_ms", ratio=False),
                }
        rows.append(row)
    return rows


def goals(cells: list[dict[str, Any]], ratio_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The goals of the hot-path work, checked on the cells this run measured."""
    out: list[dict[str, Any]] = []

    def check(goal: str, measured: float | None, met: bool | None) -> None:
        out.append({"goal": goal, "measured": measured, "met": met})

    for row in ratio_rows:
        mode, c = row["mode"], row["concurrency"]
        direct, litellm = row["hub_vs_direct"], row["hub_vs_litellm"]
        where = f"{mode} c={c}"
        if direct and c == 1:
            limit = 0.1 if mode == "complete" else 0.3
            added = direct["added_p50_ms"]
            check(f"{where}: added p50 over direct < {limit} ms", added, _le(added, limit))
            cpu = direct["cpu_per_request"]
            check(f"{where}: CPU per request <= 1.2x direct", cpu, _le(cpu, 1.2))
        if direct and c > 1:
            rps = direct["requests_per_s"]
            check(f"{where}: requests/s >= direct", rps, _ge(rps, 1.0))
        if litellm and c > 1:
            floor = 5.0 if mode == "complete" else 10.0
            rps = litellm["requests_per_s"]
            check(f"{where}: requests/s >= {floor:g}x LiteLLM", rps, _ge(rps, floor))
    for c in cells:
        if c["target"] == "hub" and c["concurrency"] >= 256:
            rss = c["peak_rss_mb"]
            where = f"{c['mode']} c={c['concurrency']}"
            check(f"{where}: hub peak RSS < 100 MB", rss, None if rss is None else rss < 100)
    return out


def server_ratios(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (mode, concurrency): the OpenAI SDK through ``hubactors serve`` against the same
    SDK on the mock (throughput ratio, milliseconds added), and the WebSocket clients'
    throughput, alone and against both; medians of per-round pairs, as :func:`ratios`."""
    by_key = {(c["mode"], c["concurrency"], c["target"]): c for c in cells}
    rows = []
    for mode, concurrency in sorted({(c["mode"], c["concurrency"]) for c in cells}):
        server = by_key.get((mode, concurrency, "sdk-server"))
        direct = by_key.get((mode, concurrency, "sdk-direct"))
        ws = by_key.get((mode, concurrency, "ws"))
        if server is None and ws is None:
            continue
        row: dict[str, Any] = {"mode": mode, "concurrency": concurrency}
        row["server_vs_sdk_direct"] = None
        if server is not None and direct is not None:
            row["server_vs_sdk_direct"] = {
                "requests_per_s": _paired(server, direct, "requests_per_s", ratio=True),
                "added_p50_ms": _paired(server, direct, "p50_ms", ratio=False),
                "added_ttfc_p50_ms": _paired(server, direct, "ttfc_p50_ms", ratio=False),
            }
        row["ws"] = None
        if ws is not None:
            row["ws"] = {
                "requests_per_s": ws["requests_per_s"],
                "p50_ms": ws["p50_ms"],
                "vs_sdk_server": None
                if server is None
                else _paired(ws, server, "requests_per_s", ratio=True),
                "vs_sdk_direct": None
                if direct is None
                else _paired(ws, direct, "requests_per_s", ratio=True),
            }
        rows.append(row)
    return rows


def server_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The server's goal the table can check: under 1 ms p50 added at concurrency 1."""
    out = []
    for row in rows:
        compared = row["server_vs_sdk_direct"]
        if compared and row["concurrency"] == 1:
            added = compared["added_p50_ms"]
            goal = f"{row['mode']} c=1: sdk-server added p50 over sdk-direct < 1 ms"
            out.append({"goal": goal, "measured": added, "met": _le(added, 1.0)})
    return out


def slope_mb_per_min(samples: list[list[float]], skip_fraction: float = 0.2) -> float | None:
    """Least-squares slope of RSS over time, after the first ``skip_fraction`` (warm-up)."""
    if not samples:
        return None
    end = samples[-1][0]
    points = [(t, mb) for t, mb in samples if t >= end * skip_fraction]
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_mb = sum(mb for _, mb in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return 60 * sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _ge(value: float | None, floor: float) -> bool | None:
    return None if value is None else value >= floor


# --- rendering ------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_cells(cells: list[dict[str, Any]]) -> str:
    header = ["mode", "conc", "target", "req/s", "p50 ms", "p99 ms", "ttfc p50", "ttfc p99"]
    header += ["CPU µs/req", "RSS MB", "new conns", "errors", "mock CPU %"]
    served = any(c["target"] in SERVER_TARGETS for c in cells)
    if served:
        header += ["srv CPU µs/req", "srv CPU %", "srv RSS MB", "srv exit"]
    rows = [
        [
            c["mode"],
            str(c["concurrency"]),
            c["target"],
            _fmt(c["requests_per_s"], ".0f"),
            _fmt(c["p50_ms"], ".2f"),
            _fmt(c["p99_ms"], ".2f"),
            _fmt(c["ttfc_p50_ms"], ".2f"),
            _fmt(c["ttfc_p99_ms"], ".2f"),
            _fmt(c["cpu_us_per_request"], ".0f"),
            _fmt(c["peak_rss_mb"], ".0f"),
            str(c["upstream_connections"]),
            str(c["errors"]),
            _fmt(c["mock_cpu_percent"], ".0f"),
        ]
        + (_server_columns(c) if served else [])
        for c in cells
    ]
    return _table(header, rows)


def _server_columns(c: dict[str, Any]) -> list[str]:
    if "server_exit_codes" not in c:
        return ["-"] * 4
    codes = sorted({str(code) for code in c["server_exit_codes"]})
    return [
        _fmt(c["server_cpu_us_per_request"], ".0f"),
        _fmt(c["server_cpu_percent"], ".0f"),
        _fmt(c["server_peak_rss_mb"], ".0f"),
        ",".join(codes),
    ]


def render_ratios(rows: list[dict[str, Any]]) -> str:
    header = ["mode", "conc", "req/s hub/direct", "CPU hub/direct", "added p50 ms"]
    header += ["added ttfc ms", "req/s hub/LiteLLM", "CPU hub/LiteLLM"]

    def get(row: dict[str, Any], other: str, key: str) -> float | None:
        values = row[f"hub_vs_{other}"]
        return None if values is None else values[key]

    table = [
        [
            row["mode"],
            str(row["concurrency"]),
            _fmt(get(row, "direct", "requests_per_s"), ".2f"),
            _fmt(get(row, "direct", "cpu_per_request"), ".2f"),
            _fmt(get(row, "direct", "added_p50_ms"), ".3f"),
            _fmt(get(row, "direct", "added_ttfc_p50_ms"), ".3f"),
            _fmt(get(row, "litellm", "requests_per_s"), ".2f"),
            _fmt(get(row, "litellm", "cpu_per_request"), ".2f"),
        ]
        for row in rows
    ]
    return _table(header, table)


def render_server_ratios(rows: list[dict[str, Any]]) -> str:
    header = ["mode", "conc", "req/s server/direct", "added p50 ms", "added ttfc ms"]
    header += ["ws req/s", "ws p50 ms", "ws/sdk-server", "ws/sdk-direct"]

    def get(row: dict[str, Any], part: str, key: str) -> float | None:
        values = row[part]
        return None if values is None else values[key]

    table = [
        [
            row["mode"],
            str(row["concurrency"]),
            _fmt(get(row, "server_vs_sdk_direct", "requests_per_s"), ".2f"),
            _fmt(get(row, "server_vs_sdk_direct", "added_p50_ms"), ".3f"),
            _fmt(get(row, "server_vs_sdk_direct", "added_ttfc_p50_ms"), ".3f"),
            _fmt(get(row, "ws", "requests_per_s"), ".0f"),
            _fmt(get(row, "ws", "p50_ms"), ".2f"),
            _fmt(get(row, "ws", "vs_sdk_server"), ".2f"),
            _fmt(get(row, "ws", "vs_sdk_direct"), ".2f"),
        ]
        for row in rows
    ]
    return _table(header, table)


def render_goals(rows: list[dict[str, Any]]) -> str:
    marks = {True: "met", False: "NOT MET", None: "-"}
    return "\n".join(
        f"  [{marks[g['met']]:>7}] {g['goal']}  (measured {_fmt(g['measured'], '.3g')})"
        for g in rows
    )


def plot(cells: list[dict[str, Any]], path: str, title: str) -> None:
    """Grouped bars: one row per mode, one column per metric, bars per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("requests_per_s", "requests/s (higher is better)"),
        ("p50_ms", "p50 latency, ms"),
        ("cpu_us_per_request", "client CPU µs per request"),
    ]
    modes = [m for m in MODES if any(c["mode"] == m for c in cells)]
    targets = [t for t in TARGETS if any(c["target"] == t for c in cells)]
    levels = sorted({c["concurrency"] for c in cells})
    by_key = {(c["mode"], c["concurrency"], c["target"]): c for c in cells}
    fig, axes = plt.subplots(len(modes), len(metrics), figsize=(13, 3.6 * len(modes)))
    axes_rows = axes if len(modes) > 1 else [axes]
    width = 0.8 / max(1, len(targets))
    for row, mode in zip(axes_rows, modes, strict=True):
        for ax, (key, label) in zip(row, metrics, strict=True):
            for i, target in enumerate(targets):
                values = [
                    (by_key.get((mode, level, target)) or {}).get(key) or 0.0 for level in levels
                ]
                xs = [x + (i - (len(targets) - 1) / 2) * width for x in range(len(levels))]
                ax.bar(xs, values, width, label=target)
            ax.set_xticks(range(len(levels)), [f"c={level}" for level in levels])
            ax.set_yscale("log")
            ax.set_title(f"{mode}: {label}", fontsize=10)
            ax.grid(axis="y", alpha=0.3, which="both")
    axes_rows[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
