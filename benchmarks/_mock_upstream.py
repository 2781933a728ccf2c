"""A mock OpenAI-compatible upstream that costs as little CPU as a Python server can.

A raw asyncio ``Protocol`` (no framework, no HTTP library) answers
``POST /v1/chat/completions`` with prebuilt bytes over HTTP/1.1 keep-alive: a JSON completion,
or, when the body asks for ``"stream": true``, an SSE stream of ``--chunks`` content chunks,
a finish chunk and a usage chunk (as OpenAI sends with ``stream_options.include_usage``), then
``data: [DONE]``, chunked-encoded with one write per event, as a real server flushes tokens.
Request bodies are not parsed: only ``Content-Length`` is read, and the body searched for the
stream flag.

``GET /_stats`` answers ``{"requests", "connections", "open_connections", "cpu_s"}``:
``connections`` counts the connections that carried at least one chat request (the stats
request's own connection is counted neither there nor in ``open_connections``), ``cpu_s`` is
this process's CPU time.

    python benchmarks/_mock_upstream.py [--chunks 20] [--lifetime 7200]

It prints ``{"port": N}`` on stdout once listening on 127.0.0.1, and exits when its standard
input closes (its parent is gone) or after ``--lifetime`` seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys

MODEL = "bench-model"
_CHUNK_ID = '"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000'
_MAX_HEADER = 64 * 1024


def _chunked(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _event(body: str) -> bytes:
    return _chunked(f"data: {body}\n\n".encode())


def completion_response() -> bytes:
    """The whole HTTP response to a non-streaming request."""
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the mock upstream."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        },
        separators=(",", ":"),
    ).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: keep-alive\r\n\r\n" % len(body)
    )
    return head + body


def stream_response(chunks: int) -> list[bytes]:
    """The writes of one streamed response: headers with the role chunk, then one per event."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )

    def chunk(delta: str, finish: str = "null") -> bytes:
        choice = f'{{"index":0,"delta":{delta},"finish_reason":{finish}}}'
        return _event(f'{{{_CHUNK_ID},"model":"{MODEL}","choices":[{choice}],"usage":null}}')

    writes = [head + chunk('{"role":"assistant","content":""}')]
    writes += [chunk(f'{{"content":"tok{i} "}}') for i in range(chunks)]
    writes.append(chunk("{}", '"stop"'))
    usage = f'{{"prompt_tokens":12,"completion_tokens":{chunks},"total_tokens":{12 + chunks}}}'
    writes.append(_event(f'{{{_CHUNK_ID},"model":"{MODEL}","choices":[],"usage":{usage}}}'))
    writes.append(_event("[DONE]") + b"0\r\n\r\n")
    return writes


def _simple(status: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % (status, len(body)) + body


class Stats:
    """What the server did, for ``GET /_stats``."""

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0
        self.open_connections = 0

    def render(self) -> bytes:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        body = json.dumps(
            {
                "requests": self.requests,
                "connections": self.connections,
                # Not counting the connection asking.
                "open_connections": self.open_connections - 1,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        ).encode()
        return _simple(b"200 OK", body)


class UpstreamProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse just enough of each request to answer it."""

    def __init__(self, stats: Stats, completion: bytes, stream: list[bytes]) -> None:
        self._stats = stats
        self._completion = completion
        self._stream = stream
        self._buffer = b""
        self._counted = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._stats.open_connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._stats.open_connections -= 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        # Pipelined or split requests: answer every complete one in the buffer.
        while self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEADER:
                    self._transport.close()
                return
            head = self._buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                length = int(head[marker + 15 : line_end if line_end >= 0 else None])
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = self._buffer[end + 4 : total]
            self._buffer = self._buffer[total:]
            self._answer(head, body)

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if head.startswith(b"post /v1/chat/completions"):
            self._stats.requests += 1
            if not self._counted:
                self._counted = True
                self._stats.connections += 1
            if b'"stream":true' in body or b'"stream": true' in body:
                for write in self._stream:
                    transport.write(write)
            else:
                transport.write(self._completion)
        elif head.startswith(b"get /_stats"):
            transport.write(self._stats.render())
        else:
            transport.write(_simple(b"404 Not Found", b'{"error":{"message":"not found"}}'))


async def serve(chunks: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    completion, stream = completion_response(), stream_response(chunks)
    server = await loop.create_server(
        lambda: UpstreamProtocol(stats, completion, stream), "127.0.0.1", 0, backlog=4096
    )
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    # Exit with the parent: its end of our stdin closes when it goes away.
    stdin_closed = loop.create_future()

    class _StdinWatcher(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if not stdin_closed.done():
                stdin_closed.set_result(None)

    await loop.connect_read_pipe(_StdinWatcher, sys.stdin)
    async with server:
        await asyncio.wait_for(stdin_closed, timeout=lifetime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--lifetime", type=float, default=7200.0, help="exit after (seconds)")
    args = parser.parse_args()
    with contextlib.suppress(TimeoutError, KeyboardInterrupt):
        asyncio.run(serve(args.chunks, args.lifetime))


if __name__ == "__main__":
    main()
