"""Reading the recorded fixtures and their ``.expected.json``, and comparing results to them.

``expected.json`` holds what the provider's official SDK reported. Where the SDK failed
(``sdk_error``) the SDK-free ``independent_check.independent_parse`` is the reference; for
Vertex ``partialArgs`` streams the tool calls are assembled from ``sdk_function_call_parts``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import ChatResponse, StreamEvent, TextDelta
from hubactors.providers._sse import SSEParser
from hubactors.providers.codecs._common import Codec, Endpoint
from tests.providers._replay import FIXTURES

PROVIDERS = ("openai", "anthropic", "gemini")


def fixture_files(provider: str | None = None) -> list[Path]:
    """Every recorded body (``.sse``/``.json``, not ``.expected.json``), sorted."""
    folders = [provider] if provider else list(PROVIDERS)
    return sorted(
        path
        for folder in folders
        for path in (FIXTURES / folder).iterdir()
        if path.suffix in (".sse", ".json") and not path.name.endswith(".expected.json")
    )


def expected_for(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    return data


def http_status(expected: dict[str, Any]) -> int:
    """The status the fixture is served with: the error's status, or 200."""
    return int(expected["error"]["status"]) if "error" in expected else 200


def _assemble_partial_args(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Vertex streamed function calls: a named part opens a call, partial args extend it."""
    calls: list[dict[str, Any]] = []
    for part in parts:
        if part.get("name"):
            calls.append({"id": part["id"], "name": part["name"], "arguments": {}})
            calls[-1]["arguments"].update(part.get("arguments") or {})
        for partial in part.get("partial_args") or ():
            key = partial["json_path"].removeprefix("$.")
            if "string_value" not in partial or "." in key:
                raise NotImplementedError(f"partial arg shape not handled: {partial}")
            args = calls[-1]["arguments"]
            args[key] = args.get(key, "") + partial["string_value"]
    return calls


def reference(expected: dict[str, Any]) -> dict[str, Any]:
    """The result our parse must equal: text, tool calls, raw finish reason, usage."""
    source = (
        expected["independent_check"]["independent_parse"] if "sdk_error" in expected else expected
    )
    if "tool_calls" in source:
        tool_calls = source["tool_calls"]
    else:
        tool_calls = _assemble_partial_args(expected["sdk_function_call_parts"])
    usage = source.get("usage") or {}
    out = {
        "text": source["text"],
        "tool_calls": tool_calls,
        "finish_reason": source["finish_reason"],
        "usage": {
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
            "cached_tokens": usage.get("cached_tokens", 0),
        },
    }
    if "reasoning_tokens" in usage:
        out["usage"]["reasoning_tokens"] = usage["reasoning_tokens"]
    if "reasoning" in source:
        out["reasoning"] = source["reasoning"]
    return out


def summary(response: ChatResponse, like: dict[str, Any]) -> dict[str, Any]:
    """``response`` in the shape of :func:`reference` (with the same optional keys)."""
    usage = {
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
        "cached_tokens": response.usage.cached_input_tokens,
    }
    if "reasoning_tokens" in like["usage"]:
        usage["reasoning_tokens"] = response.usage.reasoning_tokens
    out = {
        "text": response.text,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "finish_reason": response.raw_finish_reason,
        "usage": usage,
    }
    if "reasoning" in like:
        out["reasoning"] = response.reasoning
    return out


def assert_matches(response: ChatResponse, expected: dict[str, Any]) -> None:
    want = reference(expected)
    assert summary(response, want) == want


def split_pieces(data: bytes, seed: int | None, largest: int = 7) -> Iterator[bytes]:
    """``data`` whole (``seed`` None) or in random pieces of 1..``largest`` bytes."""
    if seed is None:
        yield data
        return
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        n = rng.randint(1, largest)
        yield data[i : i + n]
        i += n


def decode_stream(
    codec: Codec, endpoint: Endpoint, data: bytes, seed: int | None = None
) -> list[StreamEvent]:
    """Every event ``codec`` decodes from the SSE bytes ``data``, fed in pieces."""
    parser = SSEParser()
    decoder = codec.stream_decoder(endpoint)
    events: list[StreamEvent] = []
    for piece in split_pieces(data, seed):
        for sse in parser.feed(piece):
            events.extend(decoder.feed(sse))
    for sse in parser.close():
        events.extend(decoder.feed(sse))
    events.extend(decoder.close())
    return events


def decode_until_error(
    codec: Codec, endpoint: Endpoint, data: bytes
) -> tuple[list[StreamEvent], Exception]:
    """The events ``codec`` decodes from ``data`` before it raises, and what it raised."""
    parser = SSEParser()
    decoder = codec.stream_decoder(endpoint)
    events: list[StreamEvent] = []
    try:
        for sse in [*parser.feed(data), *parser.close()]:
            events.extend(decoder.feed(sse))
        events.extend(decoder.close())
    except Exception as exc:
        return events, exc
    raise AssertionError(f"the stream decoded without an error: {events}")


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def accumulate(events: list[StreamEvent]) -> ChatResponse:
    """The response the events describe."""
    acc = StreamAccumulator()
    for event in events:
        acc.add(event)
    return acc.response()
