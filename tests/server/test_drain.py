"""Graceful drain: stop accepting, let requests in flight finish within the grace, cut the
rest with an in-band error, close every connection; ``hubactors serve`` exits 0 on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed

from tests.server._ws import open_ws, receive, request
from tests.server.conftest import hub_config, in_thread, serving

SLOW_STREAM = {"output_tokens": 20, "inter_token_delay": 0.01}  # about 0.2 s


def stream_then_close(
    url: str, on_first_event: Any, *, late: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Stream one request, call ``on_first_event()`` (then send a ``late`` request), read
    to the close; return the frames and the close code."""
    with open_ws(url) as ws:
        ws.send(request("s", stream=True))
        frames = [receive(ws)]
        on_first_event()
        if late:
            ws.send(request("late"))  # the server is draining: refused, never served
        try:
            while True:
                frames.append(receive(ws))
        except ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else 0


async def test_a_stream_in_flight_finishes_within_the_grace_then_the_connection_closes() -> None:
    async with serving(hub_config(**SLOW_STREAM), drain_grace=5.0) as server:
        token = trio.lowlevel.current_trio_token()

        async def shutdown_started() -> None:
            server_nursery.start_soon(server.shutdown)
            await server.drain.started.wait()

        def shutdown_soon() -> None:
            trio.from_thread.run(shutdown_started, trio_token=token)

        async with trio.open_nursery() as server_nursery:
            frames, code = await in_thread(
                lambda: stream_then_close(server.ws_url, shutdown_soon, late=True)
            )
    assert code == 1001
    final = next(f for f in frames if f["type"] in ("response", "error") and f["id"] == "s")
    assert final["type"] == "response" and final["response"]["finish_reason"] == "stop"
    late = [f for f in frames if f["type"] == "error" and f["id"] == "late"]
    assert late[0]["error"]["type"] == "HubClosedError"
    assert late[0]["error"]["retryable"] is True


async def test_requests_still_in_flight_after_the_grace_end_with_an_error_frame() -> None:
    async with serving(hub_config(**SLOW_STREAM), drain_grace=0.0) as server:
        token = trio.lowlevel.current_trio_token()

        def shutdown_soon() -> None:
            trio.from_thread.run_sync(
                lambda: server_nursery.start_soon(server.shutdown), trio_token=token
            )

        async with trio.open_nursery() as server_nursery:
            frames, code = await in_thread(lambda: stream_then_close(server.ws_url, shutdown_soon))
    assert code == 1001
    final = next(f for f in frames if f["type"] in ("response", "error") and f["id"] == "s")
    assert final["type"] == "error"
    assert final["error"] == {
        "type": "HubClosedError",
        "message": "the server is shutting down",
        "retryable": True,
        "status": 503,
    }


def write_config(tmp_path: Path, grace: float) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f"""
shutdown_grace = 1.0

[[deployments]]
name = "sim"
provider = "simulated"
model = "sim-large"

[deployments.simulation]
latency = 0.002
distribution = "fixed"
ttft = 0.001
output_tokens = 30
inter_token_delay = 0.01

[[routes]]
name = "chat"
deployments = ["sim"]

[server]
host = "127.0.0.1"
port = 0
http_port = 0
drain_grace = {grace}
"""
    )
    return path


@pytest.mark.parametrize(("grace", "outcome"), [(5.0, "response"), (0.0, "error")])
async def test_sigterm_mid_stream_drains_and_exits_0(
    tmp_path: Path, grace: float, outcome: str
) -> None:
    command = [sys.executable, "-m", "hubactors.cli", "serve", "--json"]
    command += ["--config", str(write_config(tmp_path, grace))]
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        with trio.fail_after(10):
            assert process.stderr is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stderr.receive_some(1)
            listening = json.loads(line)
            assert listening["event"] == "listening" and listening["ws_port"] > 0

            url = listening["websocket"]
            frames, code = await in_thread(
                lambda: stream_then_close(url, lambda: process.send_signal(signal.SIGTERM))
            )
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 1001
    final = next(f for f in frames if f["type"] in ("response", "error") and f["id"] == "s")
    assert final["type"] == outcome
