"""Every request leaves exactly one structured record when it ends; each attempt a DEBUG one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
from loguru import logger

import hubactors
from tests.hub.test_resilience_e2e import (
    OK,
    SERVER_ERROR,
    STREAM_OK,
    ask,
    http_config,
    one_host,
    read_all,
)
from tests.providers._replay import replay_server

PROMPT = "the secret plans of the walrus"
REQUEST_FIELDS = {
    "request_id", "route", "deployment", "provider", "model", "attempts", "status",
    "latency_s", "input_tokens", "output_tokens", "cost", "stream", "cached",
}  # fmt: skip


class Records:
    def __init__(self) -> None:
        self.all: list[dict[str, Any]] = []

    def write(self, message: Any) -> None:
        record = message.record
        self.all.append(
            {"level": record["level"].name, "message": record["message"], **record["extra"]}
        )

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.all if r["level"] != "DEBUG" and "status" in r]

    def attempts(self) -> list[dict[str, Any]]:
        return [r for r in self.all if r["level"] == "DEBUG" and "outcome" in r]


@pytest.fixture
def records() -> Iterator[Records]:
    capture = Records()
    logger.enable("hubactors")
    sink = logger.add(capture.write, level="DEBUG")
    try:
        yield capture
    finally:
        logger.remove(sink)
        logger.disable("hubactors")


async def test_a_served_request_writes_one_info_record_with_every_field(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    async with one_host(OK) as (_, hub):
        response = await hub.complete(ask(PROMPT))
    [record] = records.requests()
    assert record["level"] == "INFO"
    assert set(record) >= REQUEST_FIELDS
    assert record["status"] == "ok"
    assert record["request_id"] == response.request_id != ""
    assert (record["route"], record["deployment"], record["provider"]) == (
        "chat",
        "a",
        "openai-compatible",
    )
    assert record["model"] == response.model
    assert (record["input_tokens"], record["output_tokens"]) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert record["cost"] == response.cost
    assert record["stream"] is False and record["cached"] is False
    assert [a["deployment"] for a in record["attempts"]] == ["a"]
    assert record["attempts"][0]["outcome"] == "ok"
    assert all(PROMPT not in str(r) and response.text not in str(r) for r in records.all)


async def test_the_callers_request_id_is_kept(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    async with one_host(OK) as (_, hub):
        response = await hub.complete(ask(metadata={"request_id": "req-42"}))
    assert response.request_id == "req-42"
    assert [r["request_id"] for r in records.requests()] == ["req-42"]


async def test_a_failed_request_writes_one_warning_and_its_error_carries_the_id(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    async with one_host(SERVER_ERROR, route={"max_attempts": 2}) as (_, hub):
        with pytest.raises(hubactors.ServerError) as info:
            await hub.complete(ask(PROMPT))
    [record] = records.requests()
    assert record["level"] == "WARNING"
    assert record["status"] == "error"
    assert record["error"] == "ServerError"
    assert record["http_status"] == 500
    assert record["request_id"] == info.value.request_id is not None
    assert [a["outcome"] for a in record["attempts"]] == ["ServerError", "ServerError"]
    # One DEBUG record per attempt, each with its duration.
    attempts = records.attempts()
    assert [a["outcome"] for a in attempts] == ["ServerError", "ServerError"]
    assert all(a["request_id"] == record["request_id"] and a["duration_s"] >= 0 for a in attempts)


async def test_failover_lists_every_attempt_in_the_one_record(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    async with replay_server(SERVER_ERROR) as bad, replay_server(OK) as good:
        config = http_config([("a", bad.url), ("b", good.url)])
        async with hubactors.open_hub(config) as hub:
            await hub.complete(ask())
    [record] = records.requests()
    assert record["deployment"] == "b"
    assert [(a["deployment"], a["outcome"]) for a in record["attempts"]] == [
        ("a", "ServerError"),
        ("b", "ok"),
    ]


async def test_a_stream_writes_one_record_with_its_time_to_first_token(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    async with one_host(STREAM_OK) as (_, hub):
        await read_all(hub, ask(PROMPT, stream=True))
    [record] = records.requests()
    assert record["level"] == "INFO" and record["status"] == "ok"
    assert record["stream"] is True
    assert record["ttft_s"] is not None and record["ttft_s"] >= 0
    assert record["output_tokens"] > 0
    assert all(PROMPT not in str(r) for r in records.all)


async def test_a_cancelled_request_still_writes_its_one_record(
    autojump_clock: trio.testing.MockClock, records: Records
) -> None:
    from tests.providers._replay import Planned

    async with one_host(
        Planned(fixture="openai/openai-gpt41nano-text-nonstream.json", hang=60)
    ) as (
        _,
        hub,
    ):
        with trio.move_on_after(1.0):
            await hub.complete(ask())
    [record] = records.requests()
    assert (record["level"], record["status"]) == ("INFO", "cancelled")


async def test_nothing_is_built_when_nobody_listens(autojump_clock: trio.testing.MockClock) -> None:
    from hubactors._logging import would_log

    assert not would_log(20)  # disabled, as a library should be until enabled
    logger.enable("hubactors")
    try:
        assert would_log(20)
    finally:
        logger.disable("hubactors")
