"""The clients that ``overhead.py`` compares, each run in a fresh process of its own.

    python benchmarks/_clients.py '{"target": "hub", "mode": "stream", "concurrency": 32, ...}'

prints one JSON line: the latencies, the client's CPU time and peak RSS over the measured
window, and what the mock upstream did in that window. A fresh process per run makes peak
RSS mean something and keeps one target's garbage out of the next one's numbers.

Targets: ``direct`` (one shared ``httpx.AsyncClient`` under trio, with httpx's default
limits, written as a user would: ``json=``, ``response.json()``, ``aiter_lines``),
``hub`` (``hubactors.open_hub`` with one ``openai-compatible`` deployment, public API only)
and ``litellm`` (LiteLLM's ``Router`` under asyncio); the clients of ``hubactors serve``
(``sdk-direct``, ``sdk-server``, ``ws`` and the ``ws-soak``) are in ``_server_clients.py``.
Every loop is bounded by a deadline and a request count; every request by
``REQUEST_TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _server import process_usage

REQUEST_TIMEOUT = 60.0
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
# A request returns its time to first content chunk (streams) or None.
Call = Callable[[], Awaitable[float | None]]


def mock_stats(port: int) -> dict[str, Any]:
    """The mock upstream's counters, over a blocking socket of its own (outside any window)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /_stats HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(sock)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(body) < length:
            body += _recv(sock)
    stats: dict[str, Any] = json.loads(body)
    return stats


def _recv(sock: socket.socket) -> bytes:
    more = sock.recv(65536)
    if not more:
        raise ConnectionError("the mock upstream closed the stats connection")
    return more


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ``ru_maxrss``: Linux carries the RSS of the parent's
    forked copy over the exec into it, so a child of a big benchmark process would report
    at least the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    """The current resident set size (not the peak)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_sockets() -> int:
    """Sockets this process holds open (file descriptors that are sockets)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


class Tally:
    """What one phase measured; workers stop at ``deadline`` or after ``limit`` requests.

    With ``keep=False`` only counts are kept: a soak must not grow its own memory by one
    latency per request while it watches the RSS of the process.
    """

    def __init__(self, deadline: float, limit: int | None, *, keep: bool = True) -> None:
        self.deadline = deadline
        self.remaining = limit if limit is not None else sys.maxsize
        self.keep = keep
        self.completed = 0
        self.latencies: list[float] = []
        self.ttfcs: list[float] = []
        self.errors = 0
        self.first_error: str | None = None

    def take(self) -> bool:
        """Whether a worker may send one more request."""
        if self.remaining <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.remaining -= 1
        return True

    def record(self, started: float, ttfc: float | None) -> None:
        self.completed += 1
        if not self.keep:
            return
        self.latencies.append(time.perf_counter() - started)
        if ttfc is not None:
            self.ttfcs.append(ttfc - started)

    def fail(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]


def result(spec: dict[str, Any], tally: Tally, elapsed: float, cpu: float) -> dict[str, Any]:
    return {
        "target": spec["target"],
        "mode": spec["mode"],
        "concurrency": spec["concurrency"],
        "latencies": tally.latencies,
        "ttfcs": tally.ttfcs,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- trio targets: direct httpx and the hub ----------------------------------------------


async def trio_phase(
    call: Call, concurrency: int, seconds: float, limit: int | None, *, keep: bool = True
) -> Tally:
    import trio

    tally = Tally(time.perf_counter() + seconds, limit, keep=keep)

    async def worker() -> None:
        while tally.take():
            started = time.perf_counter()
            try:
                with trio.fail_after(REQUEST_TIMEOUT):
                    ttfc = await call()
            except Exception as exc:
                tally.fail(exc)
            else:
                tally.record(started, ttfc)

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return tally


def direct_calls(client: Any, url: str) -> tuple[Call, Call]:
    """Chat Completions over httpx, as a user calling the provider directly would write it."""
    body = {"model": "bench-model", "messages": MESSAGES}
    stream_body = body | {"stream": True, "stream_options": {"include_usage": True}}

    async def complete() -> float | None:
        response = await client.post(url, json=body)
        response.raise_for_status()
        if not response.json()["choices"][0]["message"]["content"]:
            raise ValueError("empty completion")
        return None

    async def stream() -> float | None:
        first: float | None = None
        async with client.stream("POST", url, json=stream_body) as response:
            response.raise_for_status()
            # Read to the end of the body (past [DONE]) so the connection goes back to the pool.
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk["choices"]:
                    if first is None and choice["delta"].get("content"):
                        first = time.perf_counter()
        return first

    return complete, stream


def hub_calls(hub: Any) -> tuple[Call, Call]:
    """The same requests through ``hub.complete`` and ``hub.stream``."""
    import hubactors

    request = {"model": "mock", "messages": MESSAGES}

    async def complete() -> float | None:
        response = await hub.complete(request)
        if not response.text:
            raise ValueError("empty completion")
        return None

    async def stream() -> float | None:
        first: float | None = None
        async with hub.stream(request) as events:
            async for event in events:
                if first is None and isinstance(event, hubactors.TextDelta) and event.text:
                    first = time.perf_counter()
        return first

    return complete, stream


def hub_config(url: str, max_concurrency: int | None, transport: str = "auto") -> Any:
    import hubactors

    options: dict[str, Any] = {"base_url": url, "transport": transport}
    if max_concurrency is not None:
        options["max_concurrency"] = max_concurrency
    return (
        hubactors.HubConfigBuilder()
        .deployment("mock", provider="openai-compatible", model="bench-model", **options)
        .build()
    )


async def measure(spec: dict[str, Any], call: Call) -> dict[str, Any]:
    """Warm up, then measure one window: latencies, CPU, and the mock's share of it."""
    concurrency, limit = spec["concurrency"], spec.get("requests")
    if spec["warmup"] > 0:
        await trio_phase(call, concurrency, spec["warmup"], None)
    before, cpu = mock_stats(spec["port"]), cpu_seconds()
    started = time.perf_counter()
    tally = await trio_phase(call, concurrency, spec["duration"], limit)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return result(spec, tally, elapsed, cpu) | {"mock": mock_delta(before, spec["port"])}


def mock_delta(before: dict[str, Any], port: int) -> dict[str, Any]:
    after = mock_stats(port)
    return {
        "cpu_s": after["cpu_s"] - before["cpu_s"],
        "requests": after["requests"] - before["requests"],
        "connections": after["connections"] - before["connections"],
    }


async def run_trio_target(spec: dict[str, Any]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{spec['port']}/v1"
    if spec["target"] == "direct":
        import httpx

        async with httpx.AsyncClient() as client:
            complete, stream = direct_calls(client, f"{url}/chat/completions")
            return await measure(spec, stream if spec["mode"] == "stream" else complete)
    import hubactors

    transport = "httpx" if spec["target"] == "hub-httpx" else "auto"
    config = hub_config(url, spec.get("hub_max_concurrency"), transport)
    async with hubactors.open_hub(config) as hub:
        complete, stream = hub_calls(hub)
        return await measure(spec, stream if spec["mode"] == "stream" else complete)


# --- the soak: many concurrent streams through the hub for a long time ---------------------


def task_names() -> list[str]:
    """The names of every live task of this trio run, walking the task tree from the root."""
    import trio

    names, stack = [], [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        names.append(task.name)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return sorted(names)


async def run_soak(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    import hubactors

    url = f"http://127.0.0.1:{spec['port']}/v1"
    interval, samples = spec["sample_every"], []
    tasks_before, sockets_before = task_names(), open_sockets()
    config = hub_config(url, spec.get("hub_max_concurrency"))
    async with hubactors.open_hub(config) as hub:
        _, stream = hub_calls(hub)
        tasks_idle = task_names()
        started = time.perf_counter()

        async def sample(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            while time.perf_counter() < started + spec["duration"]:
                samples.append([time.perf_counter() - started, rss_mb()])
                await trio.sleep(interval)

        async with trio.open_nursery() as nursery:
            await nursery.start(sample)
            tally = await trio_phase(
                stream, spec["concurrency"], spec["duration"], None, keep=False
            )
            elapsed = time.perf_counter() - started
            nursery.cancel_scope.cancel()
        samples.append([time.perf_counter() - started, rss_mb()])
        # Every stream is over: the hub should be back to its own actors' tasks.
        tasks_after_streams = task_names()
        await trio.sleep(1.0)  # what is still there a second later has not merely lagged
        tasks_settled = task_names()
        mock_open_before_close = mock_stats(spec["port"])["open_connections"]
    await trio.sleep(0.2)  # let the mock see the last connections close
    return {
        "streams": tally.completed,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "elapsed_s": elapsed,
        "rss_samples": samples,
        "peak_rss_mb": peak_rss_mb(),
        "tasks_before_hub": tasks_before,
        "tasks_hub_idle": tasks_idle,
        "tasks_after_streams": tasks_after_streams,
        "tasks_settled": tasks_settled,
        "tasks_after_close": task_names(),
        "sockets_before_hub": sockets_before,
        "sockets_after_close": open_sockets(),
        "upstream_open_before_close": mock_open_before_close,
        "upstream_open_after_close": mock_stats(spec["port"])["open_connections"],
    }


# --- asyncio targets: LiteLLM's Router here, the OpenAI SDK and WebSockets in _server_clients


async def asyncio_phase(
    call: Call, concurrency: int, seconds: float, limit: int | None, *, keep: bool = True
) -> Tally:
    """``trio_phase`` under asyncio."""
    import asyncio

    tally = Tally(time.perf_counter() + seconds, limit, keep=keep)

    async def worker() -> None:
        while tally.take():
            started = time.perf_counter()
            try:
                ttfc = await asyncio.wait_for(call(), REQUEST_TIMEOUT)
            except Exception as exc:
                tally.fail(exc)
            else:
                tally.record(started, ttfc)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def asyncio_measure(spec: dict[str, Any], call: Call) -> dict[str, Any]:
    """``measure`` under asyncio; with a ``server`` in the spec, also the CPU time and peak
    RSS of that ``hubactors serve`` process over the window."""
    concurrency, limit = spec["concurrency"], spec.get("requests")
    if spec["warmup"] > 0:
        await asyncio_phase(call, concurrency, spec["warmup"], None)
    server = spec.get("server")
    server_before = process_usage(server["pid"]) if server else None
    before, cpu = mock_stats(spec["port"]), cpu_seconds()
    started = time.perf_counter()
    tally = await asyncio_phase(call, concurrency, spec["duration"], limit)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    out = result(spec, tally, elapsed, cpu) | {"mock": mock_delta(before, spec["port"])}
    if server and server_before:
        after = process_usage(server["pid"])
        out["server"] = {
            "cpu_s": after["cpu_s"] - server_before["cpu_s"],
            "peak_rss_mb": after["peak_rss_mb"],
        }
    return out


def run_litellm(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    # Read the model price map shipped with the package instead of fetching it.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm
    from litellm import Router

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    params = {
        "model": "openai/bench-model",
        "api_base": f"http://127.0.0.1:{spec['port']}/v1",
        "api_key": "bench-key-not-secret",
    }
    router = Router(model_list=[{"model_name": "bench", "litellm_params": params}])

    async def complete() -> float | None:
        response = await router.acompletion(model="bench", messages=MESSAGES)
        if not response.choices[0].message.content:
            raise ValueError("empty completion")
        return None

    async def stream() -> float | None:
        first: float | None = None
        chunks = await router.acompletion(
            model="bench", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in chunks:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        return first

    return asyncio.run(asyncio_measure(spec, stream if spec["mode"] == "stream" else complete))


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["target"] == "litellm":
        out = run_litellm(spec)
    elif spec["target"] in ("sdk-direct", "sdk-server", "ws", "ws-soak"):
        import asyncio

        import _server_clients

        soak = spec["target"] == "ws-soak"
        out = asyncio.run((_server_clients.run_soak if soak else _server_clients.run_target)(spec))
    else:
        import trio

        out = trio.run(run_soak if spec.get("soak") else run_trio_target, spec)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
