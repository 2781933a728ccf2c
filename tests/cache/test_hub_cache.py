"""The response cache in a hub (memory backend), against a local upstream that counts the
requests it is sent: hits, streams replayed and shared with completions, the per-request
controls, nothing kept after an error, a cancel or a stream cut short, single flight, and
what the metrics and the request log say."""

from __future__ import annotations

import pytest
import trio

from hubactors import ChatRequest, Message, open_hub
from hubactors.errors import (
    ContentFilterError,
    ServerError,
    StreamInterruptedError,
    TotalTimeoutError,
)
from hubactors.model._types import Finish, StreamEvent, TextDelta, UsageEvent
from tests.cache._upstream import STREAM_TEXT, ask, completion, counting_upstream, hub_config
from tests.conftest import LogCapture
from tests.providers._replay import Planned


async def read(hub: object, request: dict[str, object]) -> tuple[list[StreamEvent], bool]:
    async with hub.stream(request) as events:  # type: ignore[attr-defined]
        return [event async for event in events], events.cached


async def test_a_repeated_request_is_answered_from_the_cache() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        first = await hub.complete(ask())
        second = await hub.complete(ask())
        assert upstream.count == 1
        assert not first.cached and second.cached
        assert second.text == first.text and second.usage == first.usage
        assert second.attempts == 0 and second.cost == 0.0
        assert second.request_id != first.request_id
        assert second.deployment == "a"
        metrics = hub.metrics_text()
        assert 'hubactors_cache_lookups_total{result="miss",route="chat"} 1.0' in metrics
        assert 'hubactors_cache_lookups_total{result="hit",route="chat"} 1.0' in metrics
        assert 'hubactors_requests_total{deployment="a",outcome="ok",route="chat"} 2.0' in metrics
        tokens = (
            f'hubactors_tokens_total{{deployment="a",kind="input"}} {first.usage.input_tokens}.0'
        )
        assert tokens in metrics  # the hit used no tokens


async def test_the_dict_and_the_struct_share_an_entry_but_not_other_requests() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        await hub.complete(ask(metadata={"request_id": "one"}))
        struct = ChatRequest(model="chat", messages=[Message(role="user", content="hello")])
        assert (await hub.complete(struct)).cached
        assert not (await hub.complete(ask("something else"))).cached
        assert upstream.count == 2


async def test_a_stream_is_replayed_as_its_events_and_serves_a_completion() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        live, live_cached = await read(hub, ask())
        replayed, replay_cached = await read(hub, ask())
        assert upstream.count == 1
        assert not live_cached and replay_cached
        strip = [e for e in live if not isinstance(e, UsageEvent)]
        assert [e for e in replayed if not isinstance(e, UsageEvent)] == strip
        assert isinstance(replayed[-1], Finish)
        usage = [e for e in replayed if isinstance(e, UsageEvent)]
        assert usage and all(e.cost == 0.0 for e in usage)
        response = await hub.complete(ask())
        assert response.cached and response.text == STREAM_TEXT
        assert upstream.count == 1


async def test_a_completion_serves_a_later_stream() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        response = await hub.complete(ask())
        events, cached = await read(hub, ask())
        assert cached and upstream.count == 1
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == response.text
        assert isinstance(events[-1], Finish)


async def test_sampled_requests_are_cached_only_when_allowed() -> None:
    async with counting_upstream() as upstream:
        async with open_hub(hub_config(upstream.url)) as hub:
            for _ in range(2):
                assert not (await hub.complete(ask(temperature=0.8))).cached
            assert upstream.count == 2
            await hub.complete(ask(temperature=0.8, cache={"sampled": True}))
            assert (await hub.complete(ask(temperature=0.8, cache={"sampled": True}))).cached
        async with open_hub(hub_config(upstream.url, cache_sampled=True)) as hub:
            await hub.complete(ask(temperature=0.8))
            assert (await hub.complete(ask(temperature=0.8))).cached


async def test_skip_reads_fresh_store_false_keeps_nothing_and_ttl_bounds_the_entry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        await hub.complete(ask("a", cache={"store": False}))
        assert not (await hub.complete(ask("a", metadata={"cache": '{"ttl": 10}'}))).cached
        assert not (await hub.complete(ask("a", cache={"skip": True}))).cached
        assert (await hub.complete(ask("a"))).cached
        assert upstream.count == 3
        await trio.sleep(11)  # the skip wrote with the default ttl (3600 s)
        assert (await hub.complete(ask("a"))).cached
        await hub.complete(ask("b", cache={"ttl": 10}))
        await trio.sleep(11)
        assert not (await hub.complete(ask("b"))).cached


async def test_an_error_leaves_no_entry(autojump_clock: trio.testing.MockClock) -> None:
    config = hub_config("", max_attempts=2)
    async with counting_upstream() as upstream:
        config["deployments"][0]["base_url"] = upstream.url + "/v1"  # type: ignore[index]
        async with open_hub(config) as hub:
            upstream.plan = [Planned(status=500, body=b'{"error": {"message": "boom"}}')] * 2
            with pytest.raises(ServerError):
                await hub.complete(ask())
            assert not (await hub.complete(ask())).cached
            assert (await hub.complete(ask())).cached
            assert upstream.count == 3


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_a_truncated_or_filtered_answer_is_not_kept(reason: str) -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        upstream.plan = [completion("cut", finish_reason=reason)]
        try:
            await hub.complete(ask())
        except ContentFilterError:
            assert reason == "content_filter"
        assert not (await hub.complete(ask())).cached
        assert upstream.count == 2


async def test_a_stream_cut_short_leaves_no_entry() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        upstream.plan = [Planned(fixture="openai/openai-gpt41nano-text.sse", cut_after=2000)]
        with pytest.raises(StreamInterruptedError):
            await read(hub, ask())
        _, cached = await read(hub, ask())
        assert not cached and upstream.count == 2


async def test_a_stream_the_caller_leaves_early_or_is_cancelled_in_leaves_no_entry() -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        async with hub.stream(ask()) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        with trio.move_on_after(5) as scope:
            async with hub.stream(ask()) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        scope.cancel()
        assert scope.cancelled_caught
        _, cached = await read(hub, ask())
        assert not cached and upstream.count == 3


async def test_fifty_identical_requests_at_once_go_upstream_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting_upstream(hang=0.5) as upstream, open_hub(hub_config(upstream.url)) as hub:
        answers: list[tuple[str, bool]] = []

        async def one(stream: bool) -> None:
            if stream:
                events, cached = await read(hub, ask())
                answers.append(
                    ("".join(e.text for e in events if isinstance(e, TextDelta)), cached)
                )
            else:
                response = await hub.complete(ask())
                answers.append((response.text, response.cached))

        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(one, i % 5 == 0)
        assert upstream.count == 1
        assert len({text for text, _ in answers}) == 1
        assert sum(not cached for _, cached in answers) == 1


async def test_followers_go_upstream_when_the_leader_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting_upstream(hang=0.05) as upstream, open_hub(hub_config(upstream.url)) as hub:
        upstream.plan = [Planned(status=400, body=b'{"error": {"message": "no"}}', hang=0.05)]
        results: list[object] = []

        async def one() -> None:
            try:
                results.append(await hub.complete(ask()))
            except Exception as exc:
                results.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(one)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1
        assert upstream.count == 2  # the failed leader, then one new leader for the rest


async def test_the_request_log_says_cached(hub_logs: LogCapture) -> None:
    async with counting_upstream() as upstream, open_hub(hub_config(upstream.url)) as hub:
        from loguru import logger

        records: list[dict[str, object]] = []
        sink = logger.add(lambda m: records.append(m.record["extra"]), level="INFO")
        try:
            await hub.complete(ask())
            await hub.complete(ask())
            await read(hub, ask())
        finally:
            logger.remove(sink)
        logged = [r["cached"] for r in records if "cached" in r]
        assert logged == [False, True, True]


async def test_waiting_for_an_identical_request_keeps_to_the_followers_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counting_upstream(hang=5.0) as upstream, open_hub(hub_config(upstream.url)) as hub:
        outcome: list[object] = []

        async def follower() -> None:
            await upstream.wait_for("requests", 1)
            started = trio.current_time()
            try:
                await hub.complete(ask(timeout=1.0))
            except TotalTimeoutError:
                outcome.append(trio.current_time() - started)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(follower)
            leader = await hub.complete(ask())
        assert not leader.cached
        assert outcome == [pytest.approx(1.0)]
        assert upstream.count == 1
