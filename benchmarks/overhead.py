"""What the hub costs on the hot path, side by side with direct httpx and LiteLLM's Router.

A mock OpenAI-compatible upstream runs in its own process (a raw asyncio socket server
writing prebuilt responses, see ``_mock_upstream.py``); its CPU use is printed for every run,
to show it is not the bottleneck. Then, in one run, targets alternate on the same mock:

- ``direct``: one shared ``httpx.AsyncClient`` under trio, default limits (the same as the
  hub's connection pool), used as a user calling the provider would;
- ``hub``: ``hub.complete`` / ``hub.stream`` through ``hubactors.open_hub`` with one
  ``openai-compatible`` deployment pointed at the mock (defaults otherwise);
- ``litellm``: LiteLLM's ``Router`` under asyncio (``pip install 'hubactors[bench]'``).

Every run is a fresh client process (so peak RSS is that of one target and one cell): a
warm-up, then a window of ``--duration`` seconds (or ``--requests``) with ``concurrency``
workers sending requests back to back. Rounds interleave the targets, so machine noise hits
them alike. Per cell: requests/s, p50/p99 latency, time to first content chunk (streams),
client CPU µs per request (process CPU time over the window / requests), peak RSS, new
upstream connections, and the ratios hub/direct and hub/LiteLLM.

    python benchmarks/overhead.py [--targets direct,hub,litellm] [--modes complete,stream]
        [--concurrency 1,32,256] [--duration 5] [--rounds 3] [--json OUT] [--plot OUT.png]
    python benchmarks/overhead.py --soak [SECONDS] [--streams 1000]

``--soak`` runs ``--streams`` concurrent streams through the hub for SECONDS (600 if not
given), samples RSS, reports its slope in MB/min and the tasks, sockets and upstream
connections still open once every stream is over and the hub is closed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _report

HERE = Path(__file__).resolve().parent
CLIENT_STARTUP_BUDGET = 120.0  # seconds a client process may take beyond its window


class MockUpstream:
    """The mock upstream in its own process; it exits when this one closes its stdin."""

    def __init__(self, chunks: int, lifetime: float) -> None:
        command = [sys.executable, str(HERE / "_mock_upstream.py"), "--chunks", str(chunks)]
        self.process = subprocess.Popen(
            [*command, "--lifetime", str(lifetime)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the mock upstream did not start")
        self.port: int = json.loads(line)["port"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_client(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One client process; its JSON result, or the error that stopped it."""
    command = [sys.executable, str(HERE / "_clients.py"), json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return spec | {"errors": 1, "first_error": f"client process timed out after {timeout}s"}
    if done.returncode != 0 or not done.stdout.strip():
        tail = done.stderr.strip().splitlines()[-3:]
        return spec | {"errors": 1, "first_error": " | ".join(tail) or "client process failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    versions = {}
    for package in ("hubactors", "httpx", "httpcore", "h11", "trio", "msgspec", "litellm"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        **measured_commit(),
    }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def measured_commit() -> dict[str, Any]:
    """The commit of the hubactors measured, when it is this checkout's (else None), and
    whether the package had uncommitted changes."""
    spec = importlib.util.find_spec("hubactors")
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    if origin is None or HERE.parent not in origin.parents:
        return {"commit": None, "uncommitted_changes": None}
    commit = _git("rev-parse", "--short", "HEAD") or None
    dirty = bool(_git("status", "--porcelain", "--", "hubactors")) if commit else None
    return {"commit": commit, "uncommitted_changes": dirty}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", default="direct,hub,litellm", help="comma-separated")
    parser.add_argument("--modes", default="complete,stream", help="complete and/or stream")
    parser.add_argument("--concurrency", default="1,32,256", help="comma-separated levels")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--requests", type=int, default=None, help="at most N requests a run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument(
        "--hub-max-concurrency",
        type=int,
        default=None,
        help="the deployment's max_concurrency (default: the config default)",
    )
    parser.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the cells (needs matplotlib)")
    parser.add_argument(
        "--soak", type=float, nargs="?", const=600.0, default=None, metavar="SECONDS"
    )
    parser.add_argument("--streams", type=int, default=1000, help="concurrent soak streams")
    parser.add_argument("--sample-every", type=float, default=5.0, help="soak RSS sampling (s)")
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    args.modes = [m for m in args.modes.split(",") if m]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    unknown = set(args.targets) - set(_report.TARGETS) | set(args.modes) - set(_report.MODES)
    if unknown:
        parser.error(f"unknown targets or modes: {', '.join(sorted(unknown))}")
    if "litellm" in args.targets and importlib.util.find_spec("litellm") is None:
        parser.error("litellm is not installed: pip install 'hubactors[bench]', or --targets")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("matplotlib is not installed: pip install 'hubactors[bench]'")
    return args


def run_matrix(args: argparse.Namespace, port: int) -> list[dict[str, Any]]:
    """Every (mode, concurrency, target) cell, rounds outermost and targets rotated."""
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    timeout = args.warmup + args.duration + CLIENT_STARTUP_BUDGET
    for round_ in range(args.rounds):
        for mode in args.modes:
            for concurrency in args.concurrency:
                shift = round_ % len(args.targets)
                for target in args.targets[shift:] + args.targets[:shift]:
                    spec = {
                        "target": target,
                        "mode": mode,
                        "concurrency": concurrency,
                        "duration": args.duration,
                        "requests": args.requests,
                        "warmup": args.warmup,
                        "port": port,
                        "hub_max_concurrency": args.hub_max_concurrency,
                    }
                    result = run_client(spec, timeout)
                    runs.setdefault((mode, concurrency, target), []).append(result)
                    progress(round_, args.rounds, result)
    return [_report.cell(cell_runs) for cell_runs in runs.values()]


def progress(round_: int, rounds: int, run: dict[str, Any]) -> None:
    requests = len(run.get("latencies", []))
    elapsed = run.get("elapsed_s") or 0.0
    mock_cpu = run.get("mock", {}).get("cpu_s", 0.0)
    line = (
        f"round {round_ + 1}/{rounds} {run['mode']:>8} c={run['concurrency']:<4} "
        f"{run['target']:>7}: {requests / elapsed if elapsed else 0:8.0f} req/s, "
        f"mock CPU {100 * mock_cpu / elapsed if elapsed else 0:3.0f}%"
    )
    if run.get("errors"):
        line += f", {run['errors']} errors ({run.get('first_error')})"
    print(line, file=sys.stderr, flush=True)


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


def run_soak(args: argparse.Namespace, port: int) -> dict[str, Any]:
    spec = {
        "target": "hub",
        "mode": "stream",
        "soak": True,
        "concurrency": args.streams,
        "duration": args.soak,
        "sample_every": args.sample_every,
        "port": port,
        "hub_max_concurrency": args.hub_max_concurrency,
    }
    result = run_client(spec, args.soak + CLIENT_STARTUP_BUDGET + 60)
    result["concurrent_streams"] = args.streams
    samples = result.get("rss_samples", [])
    result["rss_slope_mb_per_min"] = slope_mb_per_min(samples)
    result["rss_first_mb"] = samples[0][1] if samples else None
    result["rss_last_mb"] = samples[-1][1] if samples else None
    return result


def render_soak(soak: dict[str, Any]) -> str:
    if "streams" not in soak:
        return f"soak failed: {soak.get('first_error')}"
    slope = soak["rss_slope_mb_per_min"]
    left_tasks = len(soak["tasks_after_close"]) - len(soak["tasks_before_hub"])
    extra = sorted(set(soak["tasks_after_streams"]) - set(soak["tasks_hub_idle"]))
    left_sockets = soak["sockets_after_close"] - soak["sockets_before_hub"]
    return "\n".join(
        [
            f"soak: {soak['concurrent_streams']} concurrent streams through the hub, "
            f"{soak['streams']} streams in {soak['elapsed_s']:.0f} s "
            f"({soak['streams'] / soak['elapsed_s']:.0f}/s), {soak['errors']} errors"
            + (f" ({soak['first_error']})" if soak["errors"] else ""),
            f"RSS: {soak['rss_first_mb']:.1f} MB -> {soak['rss_last_mb']:.1f} MB, "
            f"peak {soak['peak_rss_mb']:.1f} MB, slope after warm-up "
            + ("-" if slope is None else f"{slope:+.3f} MB/min"),
            f"tasks: {len(soak['tasks_hub_idle'])} with the hub idle, "
            f"{len(soak['tasks_after_streams'])} once every stream is over"
            + (f" (new: {', '.join(extra)})" if extra else "")
            + f", {len(soak['tasks_settled'])} a second later, {left_tasks} left after close",
            f"sockets left after close: {left_sockets}; upstream connections still open: "
            f"{soak['upstream_open_before_close']} (pooled) before close, "
            f"{soak['upstream_open_after_close']} after",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = machine()
    cells = len(args.modes) * len(args.concurrency) * len(args.targets) * args.rounds
    expected = (args.soak or 0) + cells * (args.warmup + args.duration + 10)
    mock = MockUpstream(args.chunks, lifetime=3 * expected + 600)
    started = time.perf_counter()
    try:
        if args.soak is not None:
            out: dict[str, Any] = {"machine": info, "settings": vars(args)}
            out["soak"] = run_soak(args, mock.port)
            print(render_soak(out["soak"]))
        else:
            out = matrix_report(args, info, run_matrix(args, mock.port))
    finally:
        mock.close()
    out["wall_s"] = time.perf_counter() - started
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


def matrix_report(
    args: argparse.Namespace, info: dict[str, Any], cells: list[dict[str, Any]]
) -> dict[str, Any]:
    cells.sort(
        key=lambda c: (
            _report.MODES.index(c["mode"]),
            c["concurrency"],
            _report.TARGETS.index(c["target"]),
        )
    )
    ratio_rows = _report.ratios(cells)
    goal_rows = _report.goals(cells, ratio_rows)
    print(
        f"\n{info['cpu']}, {info['usable_cpus']} CPUs, Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    )
    print(f"{args.rounds} rounds of {args.duration:g} s per cell, {args.chunks} chunks/stream\n")
    print(_report.render_cells(cells), "\n")
    if ratio_rows:
        print(_report.render_ratios(ratio_rows), "\n")
    if goal_rows:
        print("goals:\n" + _report.render_goals(goal_rows))
    if args.plot:
        title = f"hubactors overhead: {info['cpu']}, {info['usable_cpus']} CPUs, Python " + (
            f"{info['python']}, httpx {info['versions']['httpx']}"
        )
        _report.plot(cells, args.plot, title)
    return {
        "machine": info,
        "settings": vars(args),
        "cells": cells,
        "ratios": ratio_rows,
        "goals": goal_rows,
    }


if __name__ == "__main__":
    main()
