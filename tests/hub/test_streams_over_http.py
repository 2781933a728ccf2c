"""Streams through the hub over real HTTP: what the caller received, and connection reuse.

The caller's task reads the upstream response itself (under its deployment's lease), so a
finished stream must leave its connection in the pool and a broken one must say exactly
what reached the caller.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import StreamInterruptedError, TextDelta
from tests.hub.test_resilience_e2e import ask, one_host, read_all, text_of
from tests.providers._expected import expected_for
from tests.providers._replay import FIXTURES, Planned

TEXT_SSE = "openai/openai-gpt41nano-text.sse"
STREAM = Planned(fixture=TEXT_SSE)


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_a_cut_stream_reports_exactly_the_text_the_caller_received(
    autojump_clock: trio.testing.MockClock, framing: Any
) -> None:
    plan = Planned(fixture=TEXT_SSE, framing=framing, cut_after=20_000, split=500)
    delivered: list[str] = []
    async with one_host(plan) as (_, hub):
        with pytest.raises(StreamInterruptedError) as info:
            async with hub.stream(ask(stream=True)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        delivered.append(event.text)
    full = expected_for(FIXTURES / TEXT_SSE)["text"]
    assert info.value.partial_text == "".join(delivered)
    assert info.value.partial_text and full.startswith(info.value.partial_text)
    assert info.value.deployment == "a"
    assert info.value.retryable is False  # content already reached the caller
    assert isinstance(info.value.__cause__, StreamInterruptedError)


async def test_sequential_streams_reuse_one_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with one_host(STREAM) as (server, hub):
        for _ in range(30):
            events = await read_all(hub, ask(stream=True))
            assert text_of(events)
        # A finished stream is read to its end, so its connection goes back to the pool.
        assert server.connections == 1


async def test_concurrent_streams_reuse_their_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with one_host(Planned(fixture=TEXT_SSE, split=2000)) as (server, hub):
        for _ in range(3):
            async with trio.open_nursery() as nursery:
                for _ in range(8):
                    nursery.start_soon(read_all, hub, ask(stream=True))
        with trio.fail_after(1):
            await server.wait_for("completed", 24)
        assert 1 <= server.connections <= 8


async def test_a_stream_abandoned_midway_does_not_poison_the_pool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with one_host(Planned(fixture=TEXT_SSE, split=200)) as (server, hub):
        async with hub.stream(ask(stream=True)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break  # the caller stops caring: that connection is closed at once
        for _ in range(10):
            assert text_of(await read_all(hub, ask(stream=True)))
        # The abandoned stream's connection was dropped; one more serves all the rest.
        assert server.connections == 2
        assert server.disconnects == 1
        statuses = {s.name: s for s in hub.status()}
        assert statuses["a"].in_flight == 0


async def test_cancelled_streams_release_their_deployment_and_the_pool_still_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    slow = Planned(fixture=TEXT_SSE, split=100, chunk_delay=0.05)
    async with one_host(slow, max_concurrency=4) as (server, hub):
        async with trio.open_nursery() as nursery:
            for _ in range(12):
                nursery.start_soon(read_all, hub, ask(stream=True))
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        statuses = {s.name: s for s in hub.status()}
        assert statuses["a"].in_flight == 0
        server.set_plan([STREAM])
        assert text_of(await read_all(hub, ask(stream=True)))
        assert isinstance(hub, hubactors.Hub)
