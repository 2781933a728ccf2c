"""The WebSocket endpoint, driven by the independent ``websockets`` client library."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed, InvalidStatus

import hubactors
from hubactors.server import Server
from tests.server._ws import open_ws, receive, request, until_final
from tests.server.conftest import TOKEN, hub_config, in_thread, serving


async def test_many_requests_in_flight_on_one_connection_are_answered_under_their_own_id(
    server: Server,
) -> None:
    prompts = {f"r{i}": f"question number {i}" for i in range(40)}
    # The simulated answer depends on the prompt only: ask the hub directly what each is.
    expected = {
        id: (await server.hub.complete(json.loads(request(id, p))["request"])).text
        for id, p in prompts.items()
    }

    def client() -> dict[str, list[dict[str, Any]]]:
        frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with open_ws(server.ws_url) as ws:
            for i, (id, prompt) in enumerate(prompts.items()):
                ws.send(request(id, prompt, stream=i % 2 == 0))
            finals = 0
            while finals < len(prompts):
                frame = receive(ws)
                frames[frame["id"]].append(frame)
                finals += frame["type"] in ("response", "error")
        return frames

    frames = await in_thread(client)
    assert set(frames) == set(prompts)
    for i, id in enumerate(prompts):
        *events, final = frames[id]
        assert final["type"] == "response", final
        assert final["response"]["text"] == expected[id]
        if i % 2 == 0:  # streamed: the text deltas add up to the same answer
            assert events[0]["event"]["type"] == "start"
            text = "".join(e["event"]["text"] for e in events if e["event"]["type"] == "text")
            assert text == expected[id]
            assert events[-1]["event"]["type"] == "finish"
        else:  # not streamed: just the final frame
            assert events == []


async def test_a_wrong_or_missing_token_is_refused_with_401() -> None:
    async with serving() as server:

        def status(token: str | None) -> int:
            with pytest.raises(InvalidStatus) as info:
                open_ws(server.ws_url, token=token)
            return info.value.response.status_code

        assert await in_thread(lambda: status(None)) == 401
        assert await in_thread(lambda: status("wrong-" + TOKEN)) == 401
        refused = server.metrics.handshakes.labels("unauthorized")._value.get()
        assert refused == 2


async def test_a_browser_passes_the_token_as_a_subprotocol_and_it_is_never_echoed(
    server: Server,
) -> None:
    def client() -> tuple[str | None, dict[str, Any]]:
        offered = ["hubactors.v1", f"bearer.{TOKEN}"]
        with open_ws(server.ws_url, token=None, subprotocols=offered) as ws:
            ws.send(request("a"))
            return ws.subprotocol, until_final(ws, "a")[-1]

    selected, final = await in_thread(client)
    assert selected == "hubactors.v1"
    assert final["type"] == "response"


async def test_without_a_token_only_local_clients_are_served() -> None:
    async with serving(token=None, host="0.0.0.0") as server:
        assert server.host == "127.0.0.1"  # loopback only, whatever was asked

        def client(origin: str | None) -> Any:
            try:
                with open_ws(server.ws_url, token=None, origin=origin) as ws:  # type: ignore[arg-type]
                    ws.send(request("a"))
                    return until_final(ws, "a")[-1]["type"]
            except InvalidStatus as exc:
                return exc.response.status_code

        assert await in_thread(lambda: client(None)) == "response"
        assert await in_thread(lambda: client("http://localhost:3000")) == "response"
        assert await in_thread(lambda: client("https://evil.example")) == 403


async def test_bad_frames_get_error_frames_and_never_disturb_other_requests(
    server: Server,
) -> None:
    def client() -> list[dict[str, Any]]:
        with open_ws(server.ws_url) as ws:
            ws.send(request("long", stream=True))
            ws.send("{not json")
            ws.send("[1, 2]")
            ws.send(json.dumps({"type": "subscribe", "id": "x"}))
            ws.send(json.dumps({"type": "request", "id": "", "request": {}}))
            ws.send(json.dumps({"type": "request", "id": "bad", "request": {"model": "chat"}}))
            ws.send(request("long"))  # duplicate of a request in flight
            ws.send(json.dumps({"type": "cancel", "id": "no-such-request"}))
            return until_final(ws, "long")

    frames = await in_thread(client)
    errors = [f for f in frames if f["type"] == "error"]
    assert [(e["id"], e["error"]["type"]) for e in errors] == [
        (None, "InvalidRequestError"),  # not JSON
        (None, "InvalidRequestError"),  # not an object
        ("x", "InvalidRequestError"),  # unknown type
        (None, "InvalidRequestError"),  # empty id
        ("bad", "InvalidRequestError"),  # no messages
        (None, "InvalidRequestError"),  # duplicate id: the one in flight is not affected
    ]
    assert "messages" in errors[4]["error"]["message"]
    assert "already in flight" in errors[5]["error"]["message"]
    assert all(e["error"]["retryable"] is False for e in errors)
    assert frames[-1]["type"] == "response"  # the first "long" was served to its end
    assert frames[-1]["response"]["finish_reason"] == "stop"


async def test_a_request_over_the_in_flight_limit_is_refused_as_retryable() -> None:
    async with serving(hub_config(ttft=0.2), max_in_flight=2) as server:

        def client() -> list[dict[str, Any]]:
            with open_ws(server.ws_url) as ws:
                for id in "abc":
                    ws.send(request(id))
                return [receive(ws) for _ in range(3)]

        frames = await in_thread(client)
        assert frames[0]["id"] == "c"
        assert frames[0]["error"]["type"] == "LocalRateLimitError"
        assert frames[0]["error"]["retryable"] is True
        assert {f["id"] for f in frames[1:]} == {"a", "b"}


async def test_an_oversized_frame_closes_the_connection_with_1009() -> None:
    async with serving(max_frame_size=4096) as server:

        def client() -> int | None:
            with open_ws(server.ws_url) as ws:
                ws.send(request("big", "x" * 10_000))
                with pytest.raises(ConnectionClosed) as info:
                    receive(ws)
                return info.value.rcvd.code if info.value.rcvd else None

        assert await in_thread(client) == 1009


async def test_a_binary_frame_is_a_protocol_violation_closed_with_1003(server: Server) -> None:
    def client() -> int | None:
        with open_ws(server.ws_url) as ws:
            ws.send(b"\x00\x01")
            with pytest.raises(ConnectionClosed) as info:
                receive(ws)
            return info.value.rcvd.code if info.value.rcvd else None

    assert await in_thread(client) == 1003


async def test_an_idle_connection_is_closed() -> None:
    async with serving(idle_timeout=0.05) as server:

        def client() -> tuple[int | None, str | None]:
            with open_ws(server.ws_url) as ws, pytest.raises(ConnectionClosed) as info:
                receive(ws)
            rcvd = info.value.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, None)

        assert await in_thread(client) == (1000, "idle timeout")


async def test_the_server_pings_and_a_client_that_answers_stays_connected() -> None:
    async with serving(ping_interval=0.01, ping_timeout=0.5, idle_timeout=0.2) as server:

        def client() -> dict[str, Any]:
            with open_ws(server.ws_url) as ws:
                ws.send(request("slow", stream=True))
                return until_final(ws, "slow")[-1]

        assert (await in_thread(client))["type"] == "response"


async def test_a_slow_reader_pauses_its_stream_instead_of_growing_a_buffer() -> None:
    # 300 frames of 64 KiB: 19 MiB, far more than the socket buffers can hold.
    word = "w" * 65536
    config = hub_config(reply=" ".join([word] * 300), output_tokens=300, inter_token_delay=0)
    async with serving(config, send_queue=4) as server:
        sent = server.metrics.frames.labels("sent", "event")
        started = trio.Event()
        release = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def client() -> tuple[int, str]:
            with open_ws(server.ws_url, max_size=None, max_queue=1) as ws:
                ws.send(request("big", stream=True))
                trio.from_thread.run_sync(started.set, trio_token=token)
                trio.from_thread.run(release.wait, trio_token=token)
                frames = until_final(ws, "big")
            text = "".join(f["event"].get("text", "") for f in frames if f["type"] == "event")
            return len(frames), frames[-1]["type"] + ":" + str(len(text))

        async with trio.open_nursery() as nursery:

            async def run_client() -> None:
                result.append(await in_thread(client))

            result: list[tuple[int, str]] = []
            nursery.start_soon(run_client)
            await started.wait()
            # Wait until the server stops making progress: the client reads nothing.
            # Polling a counter: the server has no event to wait on for "made no progress".
            while sent._value.get() == 0:  # noqa: ASYNC110
                await trio.sleep(0.01)
            last = -1.0
            while sent._value.get() != last:
                last = sent._value.get()
                await trio.sleep(0.05)
            assert last < 150, "the server kept sending to a client that reads nothing"
            assert server.metrics.queued._value.get() <= 4
            release.set()
        _, outcome = result[0]
        assert outcome == f"response:{300 * 65536 + 299}"  # every word, nothing lost


async def test_a_client_that_stops_answering_pings_is_dropped_and_its_stream_cancelled() -> None:
    # A client that reads nothing answers no ping either: its socket fills, the ping waits.
    word = "w" * 65536
    config = hub_config(reply=" ".join([word] * 300), output_tokens=300, inter_token_delay=0)
    async with serving(config, ping_interval=0.05, ping_timeout=0.05) as server:
        gone = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def client() -> None:
            with open_ws(server.ws_url, max_size=None, max_queue=1, close_timeout=0.05) as ws:
                ws.send(request("big", stream=True))
                trio.from_thread.run(gone.wait, trio_token=token)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_thread, client)
            with trio.fail_after(5):
                while not server.drain.in_flight:  # noqa: ASYNC110 - polling the server
                    await trio.sleep(0.01)
                dropped = trio.current_time()
                while server.websocket.connections or server.drain.in_flight:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                dropped = trio.current_time() - dropped
            gone.set()
        assert server.metrics.in_flight.labels("websocket")._value.get() == 0
        assert dropped < 1.0


async def test_protocol_examples_in_the_docs_match_what_the_server_sends(server: Server) -> None:
    def client() -> list[dict[str, Any]]:
        with open_ws(server.ws_url) as ws:
            ws.send(request("1", "Say hi", stream=True))
            return until_final(ws, "1")

    frames = await in_thread(client)
    assert {f["type"] for f in frames[:-1]} == {"event"}
    kinds = [f["event"]["type"] for f in frames[:-1]]
    assert kinds[0] == "start" and kinds[-2:] == ["usage", "finish"]
    assert set(frames[-1]["response"]) >= {"id", "text", "usage", "finish_reason", "deployment"}
    assert frames[-1]["response"]["deployment"] == "sim"
    assert hubactors  # the server speaks the hub's own event model
