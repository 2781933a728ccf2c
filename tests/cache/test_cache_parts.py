"""The cache's parts on their own: the key, the per-request controls, the entry format and
the memory backend (LRU by bytes, TTL on Trio's clock)."""

from __future__ import annotations

import msgspec
import pytest
import trio

from hubactors.cache import KEY_VERSION, CacheEntry, MemoryBackend, ResponseCache, cache_key
from hubactors.cache._cache import entry_of_response, entry_of_stream
from hubactors.cli._main import response_json
from hubactors.config import CacheConfig, RouteConfig
from hubactors.errors import InvalidRequestError
from hubactors.model._convert import coerce_request, request_from_openai
from hubactors.model._types import (
    CacheControl,
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    Message,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

BASE = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {"b": {}, "a": {}}}},
}


def key_of(data: dict[str, object]) -> str:
    return cache_key(request_from_openai(data))


def test_the_dict_and_the_struct_of_one_request_have_one_key() -> None:
    struct = ChatRequest(
        model="chat", messages=[Message(role="user", content="hi")], temperature=0.0
    )
    assert cache_key(struct) == key_of({**BASE, "temperature": 0})
    assert cache_key(struct).startswith(f"{KEY_VERSION}:")


@pytest.mark.parametrize(
    "extra",
    [
        {"metadata": {"request_id": "r-1", "user": "u"}},
        {"stream": True},
        {"timeout": 5, "priority": 3},
        {"cache": {"ttl": 5, "store": False}},
        {"metadata": {"cache": {"skip": True}}},
    ],
)
def test_ids_metadata_delivery_and_cache_controls_are_not_in_the_key(
    extra: dict[str, object],
) -> None:
    assert key_of({**BASE, **extra}) == key_of(BASE)


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"model": "other"},
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"max_tokens": 10},
        {"stop": ["x"]},
        {"tools": [TOOL]},
        {"tools": [TOOL], "tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_everything_that_changes_the_answer_changes_the_key(extra: dict[str, object]) -> None:
    assert key_of({**BASE, **extra}) != key_of(BASE)


def test_a_schema_hashes_the_same_in_any_key_order() -> None:
    reordered = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"properties": {"a": {}, "b": {}}, "type": "object"},
        },
    }
    assert key_of({**BASE, "tools": [TOOL]}) == key_of({**BASE, "tools": [reordered]})


def test_controls_come_from_the_request_or_its_metadata() -> None:
    top = request_from_openai({**BASE, "cache": {"skip": True, "ttl": 60}})
    assert top.cache == CacheControl(skip=True, ttl=60.0)
    meta = request_from_openai({**BASE, "metadata": {"cache": {"store": False}, "user": "u"}})
    assert meta.cache == CacheControl(store=False)
    assert meta.metadata == {"user": "u"}
    text = request_from_openai({**BASE, "metadata": {"cache": '{"sampled": true}'}})
    assert text.cache == CacheControl(sampled=True)
    assert request_from_openai(BASE).cache is None


@pytest.mark.parametrize(
    ("cache", "field"),
    [
        ({"skip": "yes"}, "cache.skip"),
        ({"ttl": 0}, "cache.ttl"),
        ({"ttl": "1"}, "cache.ttl"),
        ({"forever": True}, "cache.forever"),
        ("skip", "cache"),
    ],
)
def test_bad_controls_name_their_field(cache: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        request_from_openai({**BASE, "cache": cache})
    assert err.value.field == field
    with pytest.raises(InvalidRequestError, match=r"metadata\.cache"):
        request_from_openai({**BASE, "metadata": {"cache": "{not json"}})


def test_sampled_requests_take_part_only_when_the_route_or_request_says_so() -> None:
    cache = ResponseCache(CacheConfig(backend="memory"), MemoryBackend(1000))
    route = RouteConfig(name="chat", deployments=["a"])
    hot = coerce_request({**BASE, "temperature": 0.7})
    assert cache.claim_for(hot, route) is None
    assert cache.claim_for(hot, RouteConfig(name="chat", deployments=["a"], cache_sampled=True))
    allowed = coerce_request({**BASE, "temperature": 0.7, "cache": {"sampled": True}})
    assert cache.claim_for(allowed, route) is not None
    assert cache.claim_for(coerce_request({**BASE, "temperature": 0}), route) is not None
    neither = coerce_request({**BASE, "cache": {"skip": True, "store": False}})
    assert cache.claim_for(neither, route) is None
    ttl = cache.claim_for(coerce_request({**BASE, "cache": {"ttl": 5}}), route)
    assert ttl is not None and ttl.ttl == 5.0


def test_entries_are_msgpack_and_a_completion_replays_as_its_stream() -> None:
    call = ToolCall(id="c1", name="f", arguments={"x": 1})
    response = ChatResponse(
        id="r",
        model="m",
        text="hi",
        tool_calls=[call],
        finish_reason=FinishReason.TOOL_CALLS,
        usage=Usage(input_tokens=3, output_tokens=2),
        deployment="a",
        cost=0.5,
    )
    entry = entry_of_response(response)
    assert entry is not None
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(entry), type=CacheEntry)
    assert decoded == entry
    assert decoded.stream_events() == [
        StreamStart(id="r", model="m", deployment="a"),
        TextDelta("hi"),
        ToolCallDelta(index=0, id="c1", name="f", arguments='{"x":1}'),
        ToolCallComplete(index=0, tool_call=call),
        UsageEvent(Usage(input_tokens=3, output_tokens=2), cost=0.0),
        Finish(finish_reason=FinishReason.TOOL_CALLS),
    ]


@pytest.mark.parametrize("reason", [FinishReason.LENGTH, FinishReason.CONTENT_FILTER])
def test_truncated_or_filtered_answers_make_no_entry(reason: FinishReason) -> None:
    assert entry_of_response(ChatResponse(id="r", model="m", finish_reason=reason)) is None
    assert entry_of_stream([TextDelta("x"), Finish(finish_reason=reason)]) is None
    assert entry_of_stream([TextDelta("x")]) is None  # no Finish: cut short


async def test_memory_entries_expire_and_the_least_recent_go_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backend = MemoryBackend(max_bytes=30)
    await backend.set("a", b"x" * 10, ttl=60)
    await backend.set("b", b"y" * 10, ttl=5)
    await backend.set("c", b"z" * 10, ttl=60)
    assert await backend.get("a") == b"x" * 10  # a is now the most recent
    await backend.set("d", b"w" * 10, ttl=60)  # over 30 bytes: b, the least recent, goes
    assert await backend.get("b") is None
    assert backend.size == 30 and len(backend) == 3
    await backend.set("e", b"v" * 31, ttl=60)  # larger than the whole cache: not kept
    assert await backend.get("e") is None and len(backend) == 3
    await trio.sleep(61)
    assert await backend.get("a") is None
    assert await backend.get("c") is None


def test_chat_json_says_whether_the_cache_answered() -> None:
    assert response_json(ChatResponse(id="r", model="m", cached=True))["cached"] is True
    assert response_json(ChatResponse(id="r", model="m"))["cached"] is False
