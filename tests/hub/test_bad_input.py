"""Bad input costs its own request, never an actor: 1,000 bad requests, zero restarts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

import hubactors
from hubactors import ChatRequest, Message, TextPart, Tool, ToolCallPart, ToolResultPart
from hubactors.actors import ChildRestarting, SupervisorEscalated
from hubactors.providers.codecs.openai import COMPATIBLE
from tests.hub.test_resilience_e2e import OK, ask, http_config
from tests.providers._replay import replay_server

LONE = "x\ud800"
HI = [{"role": "user", "content": "hi"}]


def _typed(messages: list[Message], **fields: Any) -> ChatRequest:
    """A model request that skips the dict converter (so the hub's own check must catch it)."""
    return ChatRequest(model="chat", messages=messages, **fields)


def _tool_call_with(arguments: dict[str, Any]) -> ChatRequest:
    return _typed(
        [
            Message(role="user", content="go"),
            Message(
                role="assistant", content=[ToolCallPart(id="c1", name="f", arguments=arguments)]
            ),
            Message(role="tool", content=[ToolResultPart(tool_call_id="c1", content="done")]),
        ]
    )


BAD_REQUESTS: list[tuple[str, object, str | None]] = [
    # (shape, request, the field the error must name, when it names one)
    ("surrogate in content", {"model": "chat", "messages": [{"role": "user", "content": LONE}]},
     "messages[0].content"),
    ("surrogate in the system prompt",
     {"model": "chat", "messages": [{"role": "system", "content": LONE}, *HI]},
     "messages[0].content"),
    ("surrogate in a content part",
     _typed([Message(role="user", content=[TextPart(text=LONE)])]), "messages[0].content[0].text"),
    ("surrogate in a tool argument", _tool_call_with({"city": LONE}),
     "messages[1].content[0].arguments.city"),
    ("surrogate in a tool argument's key", _tool_call_with({LONE: 1}), None),
    ("surrogate in a tool name",
     _typed([Message(role="user", content="hi")], tools=[Tool(name=LONE, parameters={})]),
     "tools[0].name"),
    ("surrogate in a tool description",
     _typed([Message(role="user", content="hi")],
            tools=[Tool(name="f", description=LONE, parameters={"type": "object"})]),
     "tools[0].description"),
    ("surrogate in a schema",
     _typed([Message(role="user", content="hi")],
            tools=[Tool(name="f", parameters={"type": "object", "title": LONE})]),
     "tools[0].parameters.title"),
    ("surrogate in metadata", {"model": "chat", "messages": HI, "metadata": {"k": LONE}},
     "metadata.k"),
    ("surrogate in a stop sequence", {"model": "chat", "messages": HI, "stop": [LONE]}, "stop[0]"),
    ("an object JSON cannot carry",
     _typed([Message(role="user", content="hi")],
            tools=[Tool(name="f", parameters={"type": "object", "default": object()})]),
     "tools[0].parameters.default"),
    ("no messages", {"model": "chat"}, "messages"),
    ("empty messages", {"model": "chat", "messages": []}, "messages"),
    ("unknown role", {"model": "chat", "messages": [{"role": "wizard", "content": "hi"}]},
     "messages[0].role"),
    ("content of the wrong type", {"model": "chat", "messages": [{"role": "user", "content": 7}]},
     "messages[0].content"),
    ("NaN temperature", {"model": "chat", "messages": HI, "temperature": float("nan")},
     "temperature"),
    ("negative max_tokens", {"model": "chat", "messages": HI, "max_tokens": -1}, "max_tokens"),
    ("an unknown route", {"model": "nowhere", "messages": HI}, "model"),
    ("not an object at all", ["model", "chat"], None),
    ("tool_choice naming no tool",
     {"model": "chat", "messages": HI, "tool_choice": {"type": "function",
                                                       "function": {"name": "ghost"}}},
     "tool_choice.function.name"),
    ("broken base64 image",
     {"model": "chat", "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]},
     None),
    ("a tool result for no call",
     {"model": "chat", "messages": [*HI, {"role": "tool", "tool_call_id": "nope", "content": "r"}]},
     None),
]  # fmt: skip


async def test_a_thousand_bad_requests_cost_no_actor_and_the_next_good_one_is_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert len(BAD_REQUESTS) >= 20
    supervision: list[object] = []
    async with (
        replay_server(OK) as server,
        hubactors.open_hub(http_config([("a", server.url)])) as hub,
    ):
        hub.events.subscribe(supervision.append)
        shapes = itertools.cycle(BAD_REQUESTS)
        for _ in range(1000):
            shape, request, field = next(shapes)
            with pytest.raises(hubactors.HubError) as info:
                await hub.complete(request)  # type: ignore[arg-type]
            assert isinstance(info.value, hubactors.InvalidRequestError), shape
            if field is not None:
                assert info.value.field == field, shape
            str(info.value).encode("utf-8")  # every message is printable
        assert [
            e for e in supervision if isinstance(e, ChildRestarting | SupervisorEscalated)
        ] == []
        assert server.requests == []  # nothing bad was ever sent
        assert hub.status()[0].restarts == 0
        response = await hub.complete(ask())
        assert response.text


async def test_what_the_codec_cannot_encode_is_the_requests_error_not_a_crash(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: a codec that fails to encode (a gap in validation) still
    costs only the request, raised before anything is sent."""
    build = COMPATIBLE.build_request

    def build_or_fail(request: ChatRequest, endpoint: Any) -> Any:
        if "fail" in str(request.messages[0].content):
            "\ud800".encode()
        return build(request, endpoint)

    monkeypatch.setattr(COMPATIBLE, "build_request", build_or_fail)
    async with (
        replay_server(OK) as server,
        hubactors.open_hub(http_config([("a", server.url)])) as hub,
    ):
        for _ in range(30):
            with pytest.raises(hubactors.InvalidRequestError) as info:
                await hub.complete(ask("fail"))
            assert info.value.field == "request"
            assert isinstance(info.value.__cause__, UnicodeEncodeError)
        assert server.requests == []
        status = hub.status()[0]
        assert (status.restarts, status.breaker, status.in_flight) == (0, "closed", 0)
        assert (await hub.complete(ask("fine"))).text
