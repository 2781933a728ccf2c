"""The hub's Prometheus registry, scraped with ``hub.metrics_text()`` and parsed with
prometheus-client's own parser, after real scenarios on simulated deployments (on the mock
clock) and on local replay servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

import hubactors
from hubactors import HubConfigBuilder, InvalidRequestError, ServerError
from hubactors.server._metrics import ServerMetrics
from tests.providers._replay import Planned, replay_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
JSON = "openai/openai-gpt41nano-text-nonstream.json"
SERVER_ERROR = Planned(
    status=500,
    body=b'{"error": {"message": "boom", "type": "server_error"}}',
    content_type="application/json",
)


def ask(route: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"model": route, "messages": [{"role": "user", "content": "hello"}], **extra}


def fixed(latency: float, **simulation: Any) -> dict[str, Any]:
    return {"latency": latency, "distribution": "fixed", **simulation}


def scrape(hub: hubactors.Hub) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the hub's exposition, by sample name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(hub.metrics_text())
        for sample in family.samples
    }


def value(hub: hubactors.Hub, name: str, **labels: str) -> float | None:
    """One sample's value; ``None`` when the exposition has no such sample."""
    return scrape(hub).get((name, frozenset(labels.items())))


def config(*deployments: tuple[str, dict[str, Any]], **route: Any) -> hubactors.HubConfig:
    builder = HubConfigBuilder()
    for name, options in deployments:
        builder = builder.deployment(name, provider="simulated", model="m", **options)
    return builder.route("chat", [name for name, _ in deployments], **route).build()


async def test_metrics_text_is_str_and_metrics_bytes_its_utf8(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(config(("a", {"simulation": fixed(0.1)}))) as hub:
        await hub.complete(ask())
        text, raw = hub.metrics_text(), hub.metrics_bytes()
    assert isinstance(text, str) and isinstance(raw, bytes)
    assert raw == text.encode()
    assert 'hubactors_requests_total{deployment="a",outcome="ok",route="chat"} 1.0' in text


async def test_a_streams_time_to_first_token_is_observed_per_route_and_deployment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(("a", {"simulation": fixed(0.5, ttft=0.2)}))
    async with hubactors.open_hub(cfg) as hub:
        for _ in range(2):
            async with hub.stream(ask()) as events:
                async for _event in events:
                    pass
        await hub.complete(ask())  # a completion has no first token to time
        name = "hubactors_time_to_first_token_seconds"
        assert value(hub, name + "_count", route="chat", deployment="a") == 2
        assert value(hub, name + "_sum", route="chat", deployment="a") == pytest.approx(0.4)
        assert value(hub, name + "_bucket", route="chat", deployment="a", le="0.1") == 0
        assert value(hub, name + "_bucket", route="chat", deployment="a", le="0.25") == 2


async def test_failover_counts_attempts_retries_and_failovers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(
        ("a", {"simulation": fixed(0.1, error_rate=1.0)}),
        ("b", {"simulation": fixed(0.1)}),
    )
    async with hubactors.open_hub(cfg) as hub:
        for _ in range(3):
            assert (await hub.complete(ask())).deployment == "b"
        failed = {"route": "chat", "deployment": "a", "error_type": "ServerError"}
        assert value(hub, "hubactors_retries_total", **failed) == 3
        assert value(hub, "hubactors_failovers_total", **failed) == 3
        assert value(hub, "hubactors_request_attempts_count", route="chat") == 3
        assert value(hub, "hubactors_request_attempts_sum", route="chat") == 6
        assert value(hub, "hubactors_request_attempts_bucket", route="chat", le="1.0") == 0
        assert value(hub, "hubactors_request_attempts_bucket", route="chat", le="2.0") == 3


async def test_a_retry_on_the_same_deployment_is_no_failover(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with replay_server([SERVER_ERROR, Planned(fixture=JSON)]) as upstream:
        cfg = (
            HubConfigBuilder()
            .deployment("a", provider="openai-compatible", model="m", base_url=upstream.url + "/v1")
            .route("chat", ["a"])
            .build()
        )
        async with hubactors.open_hub(cfg) as hub:
            response = await hub.complete(ask())
            assert response.attempts == 2
            failed = {"route": "chat", "deployment": "a", "error_type": "ServerError"}
            assert value(hub, "hubactors_retries_total", **failed) == 1
            assert value(hub, "hubactors_failovers_total", **failed) is None
            assert value(hub, "hubactors_request_attempts_sum", route="chat") == 2


async def test_a_failed_request_counts_its_attempts_too(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(("a", {"simulation": fixed(0.1, error_rate=1.0)}), max_attempts=3)
    async with hubactors.open_hub(cfg) as hub:
        with pytest.raises(ServerError):
            await hub.complete(ask())
        assert value(hub, "hubactors_request_attempts_count", route="chat") == 1
        assert value(hub, "hubactors_request_attempts_sum", route="chat") == 3
        failed = {"route": "chat", "deployment": "a", "error_type": "ServerError"}
        assert value(hub, "hubactors_retries_total", **failed) == 2
        outcome = {"route": "chat", "deployment": "a", "outcome": "ServerError"}
        assert value(hub, "hubactors_requests_total", **outcome) == 1


async def test_hedges_sent_and_won_are_counted_by_route(
    autojump_clock: trio.testing.MockClock,
) -> None:
    slow_then_fast = config(
        ("a", {"simulation": fixed(10.0)}), ("b", {"simulation": fixed(0.5)}), hedge_after=1.0
    )
    async with hubactors.open_hub(slow_then_fast) as hub:
        assert (await hub.complete(ask())).deployment == "b"
        assert value(hub, "hubactors_hedges_sent_total", route="chat") == 1
        assert value(hub, "hubactors_hedges_won_total", route="chat") == 1
        assert value(hub, "hubactors_request_attempts_sum", route="chat") == 2
        # A hedge is an attempt alongside the first, not a retry after a failure.
        assert not any(name == "hubactors_retries_total" for name, _ in scrape(hub))

    first_still_first = config(
        ("a", {"simulation": fixed(1.5)}), ("b", {"simulation": fixed(10.0)}), hedge_after=1.0
    )
    async with hubactors.open_hub(first_still_first) as hub:
        assert (await hub.complete(ask())).deployment == "a"
        assert value(hub, "hubactors_hedges_sent_total", route="chat") == 1
        assert value(hub, "hubactors_hedges_won_total", route="chat") is None


async def test_queue_depth_is_read_at_scrape_time_and_queue_waits_are_observed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(("a", {"max_concurrency": 1, "simulation": fixed(1.0)}))
    async with hubactors.open_hub(cfg) as hub:
        assert value(hub, "hubactors_queue_depth", route="chat") == 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hub.complete, ask())
            await trio.sleep(0.1)  # the board shows a busy: the next two queue
            nursery.start_soon(hub.complete, ask())
            nursery.start_soon(hub.complete, ask())
            await trio.sleep(0.4)
            assert value(hub, "hubactors_queue_depth", route="chat") == 2
            assert value(hub, "hubactors_queue_depth", route="a") == 0
        assert value(hub, "hubactors_queue_depth", route="chat") == 0
        # Queued at 0.1, served one after the other: turns at 1.0 and 2.0.
        assert value(hub, "hubactors_queue_wait_seconds_count", route="chat") == 2
        assert value(hub, "hubactors_queue_wait_seconds_sum", route="chat") == pytest.approx(2.8)


async def test_a_wait_for_the_rate_limiter_is_observed_per_deployment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(("a", {"rpm": 2, "simulation": fixed(0.1)}))
    async with hubactors.open_hub(cfg) as hub:
        async with trio.open_nursery() as nursery:
            for _ in range(3):  # a burst of two passes; the third waits for a token
                nursery.start_soon(hub.complete, ask())
        assert value(hub, "hubactors_rate_limit_wait_seconds_count", deployment="a") == 1
        waited = value(hub, "hubactors_rate_limit_wait_seconds_sum", deployment="a")
        assert waited == pytest.approx(30.0)


async def test_breaker_transitions_are_counted_by_deployment_and_states(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(
        (
            "a",
            {"breaker": {"min_calls": 2, "open_for": 5.0}, "simulation": fixed(0.1, error_rate=1)},
        ),
        ("b", {"simulation": fixed(0.1)}),
    )
    async with hubactors.open_hub(cfg) as hub:
        for _ in range(2):
            await hub.complete(ask())  # two failures on a: its breaker opens
        await trio.sleep(6.0)  # the open period ends: half-open
        await hub.complete(ask())  # the probe fails: open again
        counts = {
            (dict(labels)["from_state"], dict(labels)["to_state"]): count
            for (name, labels), count in scrape(hub).items()
            if name == "hubactors_breaker_transitions_total" and dict(labels)["deployment"] == "a"
        }
    assert counts == {("closed", "open"): 1, ("open", "half_open"): 1, ("half_open", "open"): 1}


async def test_an_unknown_route_is_counted_as_unknown_never_by_its_name(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(config(("a", {"simulation": fixed(0.1)}))) as hub:
        for name in ("nope", "sk-not-a-route-9f8e7d6c", "chat-typo"):
            with pytest.raises(InvalidRequestError):
                await hub.complete(ask(name))
        await hub.complete(ask())
        text = hub.metrics_text()
        routes = {
            sample.labels["route"]
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if "route" in sample.labels
        }
    key = {"route": "unknown", "deployment": "", "outcome": "InvalidRequestError"}
    assert value(hub, "hubactors_requests_total", **key) == 3
    assert routes <= {"chat", "a", "unknown"}
    assert "nope" not in text and "9f8e7d6c" not in text


async def test_a_cancelled_request_counts_its_attempts_and_no_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with hubactors.open_hub(config(("a", {"simulation": fixed(100.0)}))) as hub:
        with trio.move_on_after(1.0):
            await hub.complete(ask())
        assert value(hub, "hubactors_request_attempts_count", route="chat") == 1
        assert value(hub, "hubactors_request_attempts_sum", route="chat") == 1
        assert not any(name == "hubactors_retries_total" for name, _ in scrape(hub))


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """The rows of docs/metrics.md's tables: name -> (type, labels)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 4 and cells[0].startswith("`hubactors_"):
            labels = {label.strip(" `") for label in cells[2].split(",") if label.strip()}
            rows[cells[0].strip("`")] = (cells[1], labels)
    return rows


async def test_every_metric_of_the_hub_and_the_server_is_documented(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = config(("a", {"simulation": fixed(0.1)}), ("b", {"simulation": fixed(0.1)}))
    async with hubactors.open_hub(cfg) as hub:
        await hub.complete(ask())
        text = (hub.metrics_bytes() + ServerMetrics().render()).decode()
    documented = documented_metrics()
    exposed = set()
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):
            continue  # the timestamp prometheus-client adds to counters and histograms
        name = family.name + "_total" if family.type == "counter" else family.name
        exposed.add(name)
        assert name in documented, f"{name} is not in docs/metrics.md"
        kind, labels = documented[name]
        assert kind == family.type, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    assert exposed == set(documented), "documented metrics that do not exist"
