"""The pure parts of the server: frames, credentials, the two dialects, the [server] table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

import hubactors
from hubactors import (
    ChatResponse,
    Finish,
    FinishReason,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from hubactors.server import ServerConfig, load_serve_config, server_config_from_dict
from hubactors.server._anthropic import EventEncoder
from hubactors.server._anthropic import request_from_body as anthropic_request
from hubactors.server._auth import Authenticator, Verdict
from hubactors.server._errors import http_status, wire_error
from hubactors.server._openai import ChunkEncoder
from hubactors.server._protocol import BadFrame, CancelFrame, RequestFrame, parse_client_frame

DOC = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()


def frame(**fields: Any) -> str:
    return json.dumps(fields)


# --- frames --------------------------------------------------------------------------------


def test_a_request_frame_is_validated_into_a_chat_request() -> None:
    parsed = parse_client_frame(
        frame(
            type="request",
            id="a",
            request={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        )
    )
    assert isinstance(parsed, RequestFrame) and parsed.id == "a"
    assert parsed.request.messages[0].text == "hi"
    assert parse_client_frame(frame(type="cancel", id="a")) == CancelFrame("a")


@pytest.mark.parametrize(
    ("text", "id", "field"),
    [
        ("{", None, None),
        ("[]", None, None),
        (frame(type="nope", id="x"), "x", "type"),
        (frame(type="request", id=7, request={}), None, "id"),
        (frame(type="request", id="x" * 257, request={}), None, "id"),
        (frame(type="request", id="a", request=[]), "a", "request"),
        (
            frame(type="request", id="a", request={"model": "m", "messages": [{"role": "x"}]}),
            "a",
            None,
        ),
        (
            frame(type="request", id="a", request={"model": "m", "messages": [], "deadline": 5}),
            "a",
            "deadline",
        ),
    ],
)
def test_bad_frames_say_which_request_and_field(
    text: str, id: str | None, field: str | None
) -> None:
    with pytest.raises(BadFrame) as info:
        parse_client_frame(text)
    assert info.value.id == id
    if field is not None:
        assert info.value.error.field == field
    assert info.value.frame().error.type == "InvalidRequestError"


def test_errors_map_to_statuses_and_retryability() -> None:
    limited = hubactors.RateLimitError("slow down", status=429, retry_after=2.0)
    none_left = hubactors.NoDeploymentAvailable("chat", [("a", "429")])
    none_left.__cause__ = limited
    cases = [
        (hubactors.InvalidRequestError("bad", field="x"), 400, False),
        (limited, 429, True),
        (none_left, 429, True),
        (hubactors.AuthenticationError("upstream refused our key", status=401), 502, False),
        (hubactors.TotalTimeoutError("late"), 504, False),
        (hubactors.HubClosedError("closing"), 503, True),
        (RuntimeError("bug"), 500, False),
    ]
    for exc, status, retryable in cases:
        assert (http_status(exc), wire_error(exc).retryable) == (status, retryable), exc
    assert wire_error(RuntimeError("secret detail")).message == "internal server error"


# --- credentials ---------------------------------------------------------------------------


def test_tokens_come_from_bearer_x_api_key_or_a_subprotocol() -> None:
    auth = Authenticator("s3cret")
    local = {"host": "127.0.0.1:8080"}
    assert auth.check_http(local | {"authorization": "Bearer s3cret"}) is Verdict.ALLOWED
    assert auth.check_http(local | {"x-api-key": "s3cret"}) is Verdict.ALLOWED
    assert auth.check_http(local | {"authorization": "Bearer s3cre"}) is Verdict.UNAUTHORIZED
    assert auth.check_http(local) is Verdict.UNAUTHORIZED
    assert auth.check_websocket({}, ["hubactors.v1", "bearer.s3cret"]) is Verdict.ALLOWED
    assert auth.check_websocket({}, ["hubactors.v1", "bearer."]) is Verdict.UNAUTHORIZED


def test_without_a_token_only_loopback_hosts_and_origins_pass() -> None:
    auth = Authenticator(None)
    assert auth.check_http({"host": "localhost:8080"}) is Verdict.ALLOWED
    assert auth.check_http({"host": "[::1]:8080"}) is Verdict.ALLOWED
    assert auth.check_http({"host": "attacker.example:8080"}) is Verdict.FORBIDDEN
    assert auth.check_http({"host": "127.0.0.1", "origin": "https://x.example"}) is (
        Verdict.FORBIDDEN
    )
    assert auth.check_websocket({"origin": "http://127.0.0.1:5500"}, []) is Verdict.ALLOWED
    assert auth.check_websocket({"origin": "null"}, []) is Verdict.FORBIDDEN


# --- Anthropic requests --------------------------------------------------------------------


def test_an_anthropic_conversation_with_tools_becomes_the_hubs_request() -> None:
    request = anthropic_request(
        {
            "model": "chat",
            "max_tokens": 64,
            "system": [{"type": "text", "text": "Be brief."}],
            "stop_sequences": ["END"],
            "tools": [{"name": "weather", "input_schema": {"type": "object", "properties": {}}}],
            "tool_choice": {"type": "tool", "name": "weather"},
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "x"},
                        {"type": "tool_use", "id": "t1", "name": "weather", "input": {"c": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "sun"}],
                        },
                        {"type": "text", "text": "And?"},
                    ],
                },
            ],
        }
    )
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool", "user"]
    assert request.messages[2].content == [
        ToolCallPart(id="t1", name="weather", arguments={"c": 1})
    ]
    assert request.messages[3].content == [ToolResultPart(tool_call_id="t1", content="sun")]
    assert request.tool_choice == hubactors.NamedToolChoice("weather")
    assert (request.max_tokens, request.stop) == (64, ["END"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "messages": []}, "max_tokens"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "messages[0].role",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "document"}]}],
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [],
                "tools": [{"type": "web_search_20250305"}],
            },
            "tools[0].type",
        ),
    ],
)
def test_bad_anthropic_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(hubactors.InvalidRequestError) as info:
        anthropic_request(body)
    assert info.value.field == field


# --- stream encoders -----------------------------------------------------------------------

CALL = ToolCall(id="c1", name="weather", arguments={"city": "Oslo"})
EVENTS = [
    StreamStart(id="r1", model="m"),
    TextDelta("Hi"),
    ToolCallComplete(index=0, tool_call=CALL),
    UsageEvent(Usage(input_tokens=3, output_tokens=4)),
    Finish(finish_reason=FinishReason.TOOL_CALLS),
]


def sse_data(chunks: list[bytes]) -> list[Any]:
    out = []
    for chunk in chunks:
        data = re.search(rb"^data: (.*)$", chunk, re.MULTILINE)
        assert data is not None
        out.append(
            data.group(1).decode() if data.group(1) == b"[DONE]" else json.loads(data.group(1))
        )
    return out


def test_openai_chunks_send_a_complete_only_tool_call_whole_and_end_with_usage() -> None:
    encoder = ChunkEncoder(include_usage=True, created=1)
    chunks = [c for e in EVENTS for c in encoder.feed(e)] + encoder.end()
    data = sse_data(chunks)
    assert data[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert data[1]["choices"][0]["delta"] == {"content": "Hi"}
    call = data[2]["choices"][0]["delta"]["tool_calls"][0]
    assert call == {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
    }
    assert data[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert data[4]["choices"] == [] and data[4]["usage"]["completion_tokens"] == 4
    assert data[5] == "[DONE]"


def test_openai_streamed_tool_deltas_are_not_repeated_when_the_call_completes() -> None:
    encoder = ChunkEncoder()
    out = encoder.feed(ToolCallDelta(index=0, id="c1", name="weather", arguments='{"ci'))
    out += encoder.feed(ToolCallComplete(index=0, tool_call=CALL))
    assert len(sse_data(out)) == 2  # the role chunk and the one delta


def test_an_error_ends_a_stream_without_its_clean_ending() -> None:
    exc = hubactors.StreamInterruptedError("broke", retryable=False)
    for encoder in (ChunkEncoder(), EventEncoder()):
        encoder.feed(TextDelta("partial"))
        (chunk,) = encoder.error(exc)
        assert chunk.startswith(b"event: error\n")
        assert b"[DONE]" not in chunk and b"message_stop" not in chunk


def test_anthropic_events_come_in_the_order_its_sdk_expects() -> None:
    encoder = EventEncoder()
    chunks = [c for e in EVENTS for c in encoder.feed(e)] + encoder.end()
    names = [re.match(rb"event: (\w+)", c).group(1).decode() for c in chunks]  # type: ignore[union-attr]
    assert names == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    delta = sse_data(chunks)[-2]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 4


def test_an_anthropic_message_from_a_response() -> None:
    from hubactors.server._anthropic import message

    response = ChatResponse(
        id="r", model="m", text="Hi", tool_calls=[CALL], finish_reason=FinishReason.LENGTH
    )
    body = message(response)
    assert [b["type"] for b in body["content"]] == ["text", "tool_use"]
    assert body["stop_reason"] == "max_tokens"


# --- the [server] table --------------------------------------------------------------------


def test_every_server_setting_is_documented_with_its_default() -> None:
    for field in msgspec.structs.fields(ServerConfig):
        row = next(
            (line for line in DOC.splitlines() if line.startswith(f"| `{field.name}` |")), None
        )
        assert row is not None, f"{field.name} is not documented in docs/server.md"
        default = (
            json.dumps(field.default) if isinstance(field.default, str) else str(field.default)
        )
        assert f"`{default}`" in row, row


def test_the_server_table_is_read_beside_the_hub_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        '[[deployments]]\nname = "a"\nprovider = "simulated"\nmodel = "m"\n\n'
        "[server]\nport = 0\nmax_in_flight = 8\n"
    )
    hub, server = load_serve_config(path)
    assert hub.deployments[0].name == "a"
    assert (server.port, server.max_in_flight, server.http_port) == (0, 8, 8080)
    with pytest.raises(hubactors.ConfigError) as info:
        server_config_from_dict({"prot": 1})
    assert info.value.key == "server.prot"
    with pytest.raises(hubactors.ConfigError):
        server_config_from_dict({"max_in_flight": 0})
