"""``hubactors serve`` in its own OS process, as the server targets of ``overhead.py`` use it.

:class:`ServeProcess` writes a config with one ``openai-compatible`` deployment pointed at
the mock upstream and a route named for the model the clients ask for (so the same SDK call
works against the mock and against the server), starts ``python -m hubactors.cli serve
--json`` with both ports 0, reads the chosen ports from its first stderr line, and stops it
with SIGTERM (it drains and exits 0). What the process used is read from ``/proc``
(:func:`process_usage`), what it still serves from its ``/metrics`` (:func:`server_gauges`).

Standard library only: the benchmark's parent process and its clients both import it.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

MODEL = "bench-model"
START_TIMEOUT = 60.0
DRAIN_GRACE = 10.0
STOP_TIMEOUT = DRAIN_GRACE + 30.0
"""Seconds SIGTERM may take to end the process (the drain's grace and then some)."""

# The server is started through this launcher: it asks the kernel to send it SIGTERM when
# its parent (the benchmark) dies, then becomes `hubactors serve` (exec keeps the setting),
# so no server outlives an interrupted benchmark.
_LAUNCHER = """
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit("the benchmark is gone")
os.execv(sys.executable, [sys.executable, "-m", "hubactors.cli", *sys.argv[2:]])
"""

_GAUGES = {
    "hubactors_server_websocket_connections": "websocket_connections",
    "hubactors_server_requests_in_flight": "requests_in_flight",
    "hubactors_server_websocket_queued_frames": "queued_frames",
    "hubactors_deployment_in_flight": "deployment_in_flight",
    "hubactors_queue_depth": "queue_depth",
    "hubactors_actor_crashes_total": "actor_crashes",
    "hubactors_actor_restarts_total": "actor_restarts",
}


def config_toml(mock_port: int, max_concurrency: int | None) -> str:
    """The served hub: one deployment on the mock, one route named for the model."""
    lines = [
        "[[deployments]]",
        'name = "mock"',
        'provider = "openai-compatible"',
        f'model = "{MODEL}"',
        f'base_url = "http://127.0.0.1:{mock_port}/v1"',
    ]
    if max_concurrency is not None:
        lines.append(f"max_concurrency = {max_concurrency}")
    lines += ["", "[[routes]]", f'name = "{MODEL}"', 'deployments = ["mock"]', ""]
    lines += ["[server]", 'host = "127.0.0.1"', "port = 0", "http_port = 0"]
    lines.append(f"drain_grace = {DRAIN_GRACE}")
    return "\n".join(lines) + "\n"


def process_usage(pid: int) -> dict[str, Any]:
    """CPU seconds, current and peak RSS (MB) and sockets held by process ``pid``."""
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    memory = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                memory[key] = int(value.split()[0]) / 1024  # kB
    sockets = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return {
        "cpu_s": (int(fields[11]) + int(fields[12])) / ticks,  # utime, stime
        "rss_mb": memory.get("VmRSS"),
        "peak_rss_mb": memory.get("VmHWM"),
        "sockets": sockets,
    }


def tcp_connections(pid: int) -> list[tuple[int, int, str]]:
    """``(local port, remote port, state)`` of each TCP socket process ``pid`` holds, from
    ``/proc`` (states as the kernel numbers them: ``"01"`` established, ``"08"`` close-wait,
    ``"0A"`` listening)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    local, remote = fields[1], fields[2]
                    port = int(local.rsplit(":", 1)[1], 16)
                    found.append((port, int(remote.rsplit(":", 1)[1], 16), fields[3]))
    return sorted(found)


def server_gauges(http_port: int) -> dict[str, float]:
    """What the server says it still holds (connections, requests, frames, queued and
    upstream requests) and its actors' crashes and restarts, summed over labels."""
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    totals = dict.fromkeys(_GAUGES.values(), 0.0)
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in _GAUGES:
            totals[_GAUGES[name]] += float(line.rsplit(" ", 1)[1])
    return totals


def port_refuses(port: int) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1 any more."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


class ServerStartError(Exception):
    """``hubactors serve`` exited or did not say it listens in time."""


class ServeProcess:
    """``hubactors serve`` for one run; a context manager that stops it on exit.

    Raises :class:`ServerStartError` when the server does not start within
    ``START_TIMEOUT``.
    """

    def __init__(self, mock_port: int, workdir: Path, max_concurrency: int | None = None):
        config = workdir / "serve.toml"
        config.write_text(config_toml(mock_port, max_concurrency))
        # Loopback only and no token, whatever the caller's environment holds.
        env = {k: v for k, v in os.environ.items() if k != "HUBACTORS_TOKEN"}
        command = [sys.executable, "-c", _LAUNCHER, str(os.getpid())]
        command += ["serve", "--config", str(config), "--json"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        self.pid = self.process.pid
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self.exit: dict[str, Any] | None = None
        try:
            listening = self._listening()
            self.http_port: int = listening["http_port"]
            self.ws_port: int = listening["ws_port"]
            self.ws_url: str = listening["websocket"]
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._reader = threading.Thread(target=self._keep_reading, daemon=True)
        self._reader.start()

    def _listening(self) -> dict[str, Any]:
        """The ``listening`` line, whatever comes before it (warnings); raises
        :class:`ServerStartError` with what the server printed if it exits or takes longer
        than ``START_TIMEOUT``."""
        assert self.process.stderr is not None
        fd, data = self.process.stderr.fileno(), b""
        os.set_blocking(fd, False)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                while b"\n" in data:
                    raw, _, data = data.partition(b"\n")
                    line = raw.decode(errors="replace")
                    try:
                        listening = json.loads(line)
                    except ValueError:
                        listening = None
                    if isinstance(listening, dict) and listening.get("event") == "listening":
                        self._tail.extend(data.decode(errors="replace").splitlines())
                        return listening
                    self._tail.append(line)
                if time.monotonic() > deadline or self.process.poll() is not None:
                    break
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                if not chunk:
                    break
                data += chunk
        finally:
            os.set_blocking(fd, True)
        said = " | ".join([*self._tail, data.decode(errors="replace")][-5:])
        raise ServerStartError(f"hubactors serve did not start: {said}")

    def _wait_healthy(self) -> None:
        # Once the server answers a request its signal handler is installed: the first line
        # is printed just before, and a SIGTERM in between would kill it instead.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError as exc:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise ServerStartError(f"hubactors serve does not answer: {exc}") from exc
                time.sleep(0.05)
            finally:
                connection.close()

    def _keep_reading(self) -> None:
        """Read stderr to its end so a chatty server never blocks on a full pipe."""
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self._tail.append(raw.decode(errors="replace").rstrip())

    def usage(self) -> dict[str, Any]:
        return process_usage(self.pid)

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then wait for the drain; its exit code (``None``: killed after
        ``STOP_TIMEOUT``), how long it took and the last lines of its stderr."""
        if self.exit is not None:
            return self.exit
        started = time.perf_counter()
        code: int | None = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                code = None
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join(timeout=5)
        self.exit = {
            "exit_code": code,
            "stop_s": time.perf_counter() - started,
            "stderr_tail": list(self._tail),
        }
        return self.exit

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
