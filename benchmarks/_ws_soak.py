"""The WebSocket soak of ``overhead.py --ws-soak``: many concurrent streams through one
``hubactors serve`` process for a long time, watching the SERVER's memory.

One client process (asyncio, the ``websockets`` library, see ``_server_clients.run_soak``)
keeps ``--streams`` streams in flight over ``ceil(streams / --ws-per-connection)``
connections for the duration, counting only. Meanwhile this process samples the server's
RSS from ``/proc`` every ``--sample-every`` seconds. Once the client is done: what the
server still holds (its ``/metrics`` gauges, its sockets), then SIGTERM, its exit code, and
whether anything is left (upstream connections, listening ports).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _report
from _clients import mock_stats
from _server import ServeProcess, port_refuses, server_gauges, tcp_connections

HERE = Path(__file__).resolve().parent
CLIENT_BUDGET = 180.0
"""Seconds the client may take beyond the duration (start, connecting, closing)."""


def _client(spec: dict[str, Any], workdir: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    out, err = workdir / "client.out", workdir / "client.err"
    command = [sys.executable, str(HERE / "_clients.py"), json.dumps(spec)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    return process, out, err


def _client_result(process: subprocess.Popen[bytes], out: Path, err: Path) -> dict[str, Any]:
    lines = out.read_text().strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = err.read_text().strip().splitlines()[-3:]
        return {"errors": 1, "first_error": " | ".join(tail) or "the client process failed"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_ws_soak(args: argparse.Namespace, mock_port: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServeProcess(mock_port, Path(tmp), args.hub_max_concurrency) as server,
    ):
        workdir = Path(tmp)
        idle = server.usage()
        spec = {
            "target": "ws-soak",
            "mode": "stream",
            "streams": args.streams,
            "ws_per_connection": args.ws_per_connection,
            "duration": args.ws_soak,
            "port": mock_port,
            "server": {"pid": server.pid, "ws_url": server.ws_url},
        }
        samples: list[list[float]] = []
        started = time.perf_counter()
        process, out, err = _client(spec, workdir)
        deadline = started + args.ws_soak + CLIENT_BUDGET
        while process.poll() is None and time.perf_counter() < deadline:
            samples.append([time.perf_counter() - started, server.usage()["rss_mb"]])
            try:
                process.wait(timeout=args.sample_every)
            except subprocess.TimeoutExpired:
                continue
        if process.poll() is None:
            process.kill()
            process.wait()
            client: dict[str, Any] = {"errors": 1, "first_error": "the client timed out"}
        else:
            client = _client_result(process, out, err)
        busy = server.usage()
        time.sleep(1.0)  # what is still there a second later has not merely lagged
        tcp = tcp_connections(server.pid)
        upstream_before = mock_stats(mock_port)["open_connections"]
        held = server_gauges(server.http_port)
        exit = server.stop()
    time.sleep(0.2)  # let the mock see the last connections close
    return {
        "client": client,
        "concurrent_streams": args.streams,
        "ws_per_connection": args.ws_per_connection,
        "server_rss_samples": samples,
        "server_rss_slope_mb_per_min": _report.slope_mb_per_min(samples),
        "server_rss_first_mb": samples[0][1] if samples else None,
        "server_rss_last_mb": samples[-1][1] if samples else None,
        "server_peak_rss_mb": busy["peak_rss_mb"],
        "server_rss_idle_mb": idle["rss_mb"],
        "server_cpu_s": busy["cpu_s"] - idle["cpu_s"],
        # What the server's TCP sockets are, a second after the last client left: its
        # connections to the mock (its pool), to its WebSocket port (clients: none should
        # be left) and to its HTTP port (none but a closed keep-alive one of the health
        # check, which hypercorn keeps for its keep-alive timeout).
        "server_tcp_after_clients": {
            "upstream": sum(remote == mock_port for _, remote, _ in tcp),
            "websocket": sum(port == server.ws_port and st != "0A" for port, _, st in tcp),
            "http_open": sum(
                port == server.http_port and st not in ("0A", "08") for port, _, st in tcp
            ),
            "other": sum(
                remote != mock_port and port not in (server.ws_port, server.http_port)
                for port, remote, _ in tcp
            ),
        },
        "server_holds_after_clients": held,
        "upstream_open_before_stop": upstream_before,
        "upstream_open_after_exit": mock_stats(mock_port)["open_connections"],
        "server_exit_code": exit["exit_code"],
        "server_stop_s": exit["stop_s"],
        "server_stderr_tail": exit["stderr_tail"] if exit["exit_code"] != 0 else [],
        "ports_closed_after_exit": port_refuses(server.ws_port) and port_refuses(server.http_port),
    }


def soak_goals(soak: dict[str, Any]) -> list[dict[str, Any]]:
    """What the soak must show: every stream served, flat memory, a clean exit."""
    client, held = soak["client"], soak["server_holds_after_clients"]
    slope = soak["server_rss_slope_mb_per_min"]
    streams = soak["concurrent_streams"]
    left = sum(held[k] for k in ("websocket_connections", "requests_in_flight", "queued_frames"))
    left += held["deployment_in_flight"] + held["queue_depth"]
    # Every TCP connection the server still holds is one the mock sees: its pool.
    tcp = soak["server_tcp_after_clients"]
    left += tcp["websocket"] + tcp["http_open"] + tcp["other"]
    left += abs(tcp["upstream"] - soak["upstream_open_before_stop"])
    flat = _report.FLAT_RSS_MB_PER_MIN

    def goal(text: str, measured: float | None, met: bool | None) -> dict[str, Any]:
        return {"goal": text, "measured": measured, "met": met}

    return [
        goal(
            f"{streams} concurrent WebSocket streams, none failed",
            client.get("errors"),
            client.get("errors") == 0 and client.get("connections_closed_early") == 0,
        ),
        goal(
            f"server RSS flat (slope < {flat} MB/min after warm-up)",
            slope,
            None if slope is None else slope < flat,
        ),
        goal("server exits 0 on SIGTERM", soak["server_exit_code"], soak["server_exit_code"] == 0),
        goal(
            "nothing left: no connection, request or frame held, no socket but the pool's, "
            "none after exit, ports closed",
            left + soak["upstream_open_after_exit"],
            left == 0 and soak["upstream_open_after_exit"] == 0 and soak["ports_closed_after_exit"],
        ),
    ]


def render_ws_soak(soak: dict[str, Any]) -> str:
    client = soak["client"]
    if "streams" not in client:
        return f"ws soak failed: {client.get('first_error')}"
    elapsed, slope = client["elapsed_s"], soak["server_rss_slope_mb_per_min"]
    held, tcp = soak["server_holds_after_clients"], soak["server_tcp_after_clients"]
    lines = [
        f"ws soak: {soak['concurrent_streams']} concurrent streams over "
        f"{client['connections']} WebSocket connections ({soak['ws_per_connection']} in "
        f"flight each) through one hubactors serve process, {client['streams']} streams in "
        f"{elapsed:.0f} s ({client['streams'] / elapsed:.0f}/s), {client['errors']} errors"
        + (f" ({client['first_error']})" if client["errors"] else "")
        + f", {client['connections_closed_early']} connections lost",
        f"server RSS: {soak['server_rss_idle_mb']:.1f} MB idle, "
        f"{soak['server_rss_first_mb']:.1f} -> {soak['server_rss_last_mb']:.1f} MB, peak "
        f"{soak['server_peak_rss_mb']:.1f} MB, slope after warm-up "
        + ("-" if slope is None else f"{slope:+.3f} MB/min")
        + f"; server CPU {100 * soak['server_cpu_s'] / elapsed:.0f}% of a core, client CPU "
        f"{100 * client['cpu_s'] / elapsed:.0f}%, client peak RSS {client['peak_rss_mb']:.0f} MB",
        "after the clients closed, the server holds: "
        f"{held['websocket_connections']:.0f} WebSocket connections, "
        f"{held['requests_in_flight']:.0f} requests in flight, {held['queued_frames']:.0f} "
        f"queued frames, {held['deployment_in_flight']:.0f} upstream requests, "
        f"{held['queue_depth']:.0f} queued requests; {held['actor_crashes']:.0f} actor "
        f"crashes; TCP connections: {tcp['websocket']} WebSocket, {tcp['http_open']} HTTP, "
        f"{tcp['other']} other, {tcp['upstream']} upstream (the mock sees "
        f"{soak['upstream_open_before_stop']}: the pool)",
        f"SIGTERM: exit {soak['server_exit_code']} after {soak['server_stop_s']:.2f} s; "
        f"upstream connections open: {soak['upstream_open_before_stop']} (pooled) before, "
        f"{soak['upstream_open_after_exit']} after; ports closed: "
        + ("yes" if soak["ports_closed_after_exit"] else "NO"),
    ]
    return "\n".join(lines)
