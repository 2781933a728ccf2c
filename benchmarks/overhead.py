"""What the hub costs on the hot path, side by side with direct httpx and LiteLLM's Router.

A mock OpenAI-compatible upstream runs in its own process (a raw asyncio socket server
writing prebuilt responses, see ``_mock_upstream.py``); its CPU use is printed for every run,
to show it is not the bottleneck. Then, in one run, targets alternate on the same mock:

- ``direct``: one shared ``httpx.AsyncClient`` under trio, default limits (the same as the
  hub's connection pool), used as a user calling the provider would;
- ``hub``: ``hub.complete`` / ``hub.stream`` through ``hubactors.open_hub`` with one
  ``openai-compatible`` deployment pointed at the mock (defaults otherwise);
- ``litellm``: LiteLLM's ``Router`` under asyncio (``pip install 'hubactors[bench]'``);
- ``sdk-direct``: the official ``openai`` SDK's ``AsyncOpenAI`` under asyncio on the mock;
- ``sdk-server``: the same SDK on the HTTP port of ``hubactors serve`` (one
  ``openai-compatible`` deployment on the mock, a route named for the model);
- ``ws``: WebSocket clients (``websockets``, the JSON protocol of ``docs/server.md``) of
  ``hubactors serve``, ``--ws-per-connection`` requests in flight on each connection.

``sdk-server`` and ``ws`` start a ``hubactors serve`` process of their own for every run
(port 0, the ports read from its first stderr line), measure its CPU and peak RSS over the
window too, and stop it with SIGTERM (it drains and must exit 0).

Every run is a fresh client process (so peak RSS is that of one target and one cell): a
warm-up, then a window of ``--duration`` seconds (or ``--requests``) with ``concurrency``
workers sending requests back to back. Rounds interleave the targets, so machine noise hits
them alike. Per cell: requests/s, p50/p99 latency, time to first content chunk (streams),
client CPU µs per request (process CPU time over the window / requests), peak RSS, new
upstream connections, and the ratios hub/direct and hub/LiteLLM.

    python benchmarks/overhead.py [--targets direct,hub,litellm] [--modes complete,stream]
        [--concurrency 1,32,256] [--duration 5] [--rounds 3] [--json OUT] [--plot OUT.png]
    python benchmarks/overhead.py --soak [SECONDS] [--streams 1000]
    python benchmarks/overhead.py --ws-soak [SECONDS] [--streams 1000] [--ws-per-connection 1]
    python benchmarks/overhead.py --shared-limiter [--requests 5000]
    python benchmarks/overhead.py --cache-hit [--requests 5000]

``--soak`` runs ``--streams`` concurrent streams through the hub for SECONDS (600 if not
given), samples RSS, reports its slope in MB/min and the tasks, sockets and upstream
connections still open once every stream is over and the hub is closed. ``--ws-soak`` does
the same through one ``hubactors serve`` process over WebSocket connections, sampling the
server's RSS, then checks what the server still holds and that SIGTERM ends it with 0.
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
import tempfile
import time
from pathlib import Path
from typing import Any

import _report
from _cache_hit import render_cache_hit, run_cache_hit
from _server import ServeProcess, ServerStartError
from _shared_limiter import render_shared_limiter, run_shared_limiter
from _ws_soak import render_ws_soak, run_ws_soak, soak_goals

HERE = Path(__file__).resolve().parent
CLIENT_STARTUP_BUDGET = 120.0  # seconds a client process may take beyond its window
MAX_IN_FLIGHT = 64  # the server's default max_in_flight: requests on one WebSocket


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
    packages = ("hubactors", "httpx", "httpcore", "h11", "trio", "msgspec", "litellm")
    packages += ("openai", "websockets", "trio-websocket", "wsproto", "hypercorn")
    for package in packages:
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
    parser.add_argument(
        "--ws-soak", type=float, nargs="?", const=600.0, default=None, metavar="SECONDS"
    )
    parser.add_argument("--streams", type=int, default=1000, help="concurrent soak streams")
    parser.add_argument(
        "--ws-per-connection",
        type=int,
        default=1,
        help="requests in flight on one WebSocket connection (ws and --ws-soak)",
    )
    parser.add_argument("--sample-every", type=float, default=5.0, help="soak RSS sampling (s)")
    parser.add_argument(
        "--shared-limiter",
        action="store_true",
        help="what the Redis rate limiter adds per request (needs Redis at REDIS_URL)",
    )
    parser.add_argument(
        "--cache-hit",
        action="store_true",
        help="a response-cache hit, memory and Redis (at REDIS_URL), against direct HTTP",
    )
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    args.modes = [m for m in args.modes.split(",") if m]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    unknown = set(args.targets) - set(_report.TARGETS) | set(args.modes) - set(_report.MODES)
    if unknown:
        parser.error(f"unknown targets or modes: {', '.join(sorted(unknown))}")
    # The soaks and the single measurements run no table of targets: they need no LiteLLM.
    table = not (
        args.soak is not None or args.ws_soak is not None or args.cache_hit or args.shared_limiter
    )
    if table and "litellm" in args.targets and importlib.util.find_spec("litellm") is None:
        parser.error("litellm is not installed: pip install 'hubactors[bench]', or --targets")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("matplotlib is not installed: pip install 'hubactors[bench]'")
    sdk = {"sdk-direct", "sdk-server"} & set(args.targets)
    if sdk and importlib.util.find_spec("openai") is None:
        parser.error("openai is not installed: pip install 'hubactors[bench]', or --targets")
    uses_ws = "ws" in args.targets or args.ws_soak is not None
    if uses_ws and importlib.util.find_spec("websockets") is None:
        parser.error("websockets is not installed: pip install 'hubactors[bench]'")
    if not 1 <= args.ws_per_connection <= MAX_IN_FLIGHT:
        parser.error(f"--ws-per-connection must be within 1..{MAX_IN_FLIGHT} (max_in_flight)")
    if args.soak is not None and args.ws_soak is not None:
        parser.error("--soak and --ws-soak: one at a time")
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
                        "ws_per_connection": args.ws_per_connection,
                    }
                    if target in _report.SERVER_TARGETS:
                        result = run_served_client(spec, timeout, args.hub_max_concurrency)
                    else:
                        result = run_client(spec, timeout)
                    runs.setdefault((mode, concurrency, target), []).append(result)
                    progress(round_, args.rounds, result)
    return [_report.cell(cell_runs) for cell_runs in runs.values()]


def run_served_client(
    spec: dict[str, Any], timeout: float, max_concurrency: int | None
) -> dict[str, Any]:
    """One client process against a ``hubactors serve`` started for it, then SIGTERM."""
    with tempfile.TemporaryDirectory() as workdir:
        try:
            server = ServeProcess(spec["port"], Path(workdir), max_concurrency)
        except ServerStartError as exc:
            return spec | {"errors": 1, "first_error": str(exc)[:300]}
        with server:
            spec = spec | {
                "server": {
                    "pid": server.pid,
                    "http_port": server.http_port,
                    "ws_url": server.ws_url,
                }
            }
            result = run_client(spec, timeout)
        exit = server.stop()
    result["server_exit_code"] = exit["exit_code"]
    if exit["exit_code"] != 0:
        result["server_stderr_tail"] = exit["stderr_tail"]
        result["errors"] = result.get("errors", 0) + 1
        result["first_error"] = result.get("first_error") or (
            f"hubactors serve exited {exit['exit_code']}: " + " | ".join(exit["stderr_tail"][-3:])
        )
    return result


def progress(round_: int, rounds: int, run: dict[str, Any]) -> None:
    requests = len(run.get("latencies", []))
    elapsed = run.get("elapsed_s") or 0.0
    mock_cpu = run.get("mock", {}).get("cpu_s", 0.0)
    line = (
        f"round {round_ + 1}/{rounds} {run['mode']:>8} c={run['concurrency']:<4} "
        f"{run['target']:>7}: {requests / elapsed if elapsed else 0:8.0f} req/s, "
        f"mock CPU {100 * mock_cpu / elapsed if elapsed else 0:3.0f}%"
    )
    if "server" in run and elapsed:
        line += f", server CPU {100 * run['server']['cpu_s'] / elapsed:3.0f}%"
    if run.get("errors"):
        line += f", {run['errors']} errors ({run.get('first_error')})"
    print(line, file=sys.stderr, flush=True)


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
    result["rss_slope_mb_per_min"] = _report.slope_mb_per_min(samples)
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
    if args.shared_limiter:
        result = run_shared_limiter(args.requests or 5000)
        print(render_shared_limiter(result))
        if args.json:
            Path(args.json).write_text(json.dumps({"shared_limiter": result}, indent=1) + "\n")
        return
    if args.cache_hit:
        mock = MockUpstream(args.chunks, lifetime=600)
        try:
            result = run_cache_hit(mock.port, args.requests or 5000)
        finally:
            mock.close()
        print(render_cache_hit(result))
        if args.json:
            Path(args.json).write_text(json.dumps({"cache_hit": result}, indent=1) + "\n")
        return
    info = machine()
    cells = len(args.modes) * len(args.concurrency) * len(args.targets) * args.rounds
    expected = (args.soak or args.ws_soak or 0) + cells * (args.warmup + args.duration + 10)
    mock = MockUpstream(args.chunks, lifetime=3 * expected + 600)
    started = time.perf_counter()
    try:
        if args.soak is not None:
            out: dict[str, Any] = {"machine": info, "settings": vars(args)}
            out["soak"] = run_soak(args, mock.port)
            print(render_soak(out["soak"]))
        elif args.ws_soak is not None:
            out = {"machine": info, "settings": vars(args)}
            out["ws_soak"] = run_ws_soak(args, mock.port)
            out["goals"] = soak_goals(out["ws_soak"])
            print(render_ws_soak(out["ws_soak"]))
            print("goals:\n" + _report.render_goals(out["goals"]))
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
    server_rows = _report.server_ratios(cells)
    goal_rows = _report.goals(cells, ratio_rows) + _report.server_goals(server_rows)
    print(
        f"\n{info['cpu']}, {info['usable_cpus']} CPUs, Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    )
    print(f"{args.rounds} rounds of {args.duration:g} s per cell, {args.chunks} chunks/stream\n")
    print(_report.render_cells(cells), "\n")
    if ratio_rows:
        print(_report.render_ratios(ratio_rows), "\n")
    if server_rows:
        print(_report.render_server_ratios(server_rows), "\n")
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
    } | ({"server_ratios": server_rows} if server_rows else {})


if __name__ == "__main__":
    main()
