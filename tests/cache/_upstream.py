"""A counting OpenAI-compatible upstream for the cache tests: JSON for completions, SSE for
streams (each from a recorded fixture, with different texts), or whatever the test plans."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.providers._replay import FIXTURES, Planned, ReplayServer, serving

STREAM_FIXTURE = "openai/openai-gpt41nano-text.sse"
COMPLETION_FIXTURE = "openai/openai-gpt41nano-text-nonstream.json"
STREAM_TEXT = json.loads((FIXTURES / "openai/openai-gpt41nano-text.expected.json").read_text())[
    "text"
]


def completion(text: str, finish_reason: str = "stop") -> Planned:
    """A chat completion body answering ``text`` and ending with ``finish_reason``."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    return Planned(body=json.dumps(body).encode(), content_type="application/json")


class CountingUpstream(ReplayServer):
    """Answers each request by its ``stream`` flag, unless ``plan`` holds responses to give
    first (one per request, in order). ``hang`` delays every answer."""

    def __init__(self, hang: float = 0.0) -> None:
        super().__init__([Planned()])
        self.hang = hang
        self.plan: list[Planned] = []

    @property
    def count(self) -> int:
        return len(self.requests)

    def _take(self) -> Planned:
        if self.plan:
            return self.plan.pop(0)
        streamed = bool(self.requests[-1].json.get("stream"))
        fixture = STREAM_FIXTURE if streamed else COMPLETION_FIXTURE
        return Planned(fixture=fixture, hang=self.hang)


@asynccontextmanager
async def counting_upstream(hang: float = 0.0) -> AsyncIterator[CountingUpstream]:
    """Serve a :class:`CountingUpstream` on 127.0.0.1 for the duration of the block."""
    server = CountingUpstream(hang)
    async with serving(server):
        yield server


def hub_config(
    url: str, *, backend: str = "memory", redis: dict[str, object] | None = None, **route: object
) -> dict[str, object]:
    """A hub with one deployment on ``url`` behind the route ``chat``, caching in ``backend``."""
    config: dict[str, object] = {
        "deployments": [
            {"name": "a", "provider": "openai-compatible", "model": "m", "base_url": url + "/v1"}
        ],
        "routes": [{"name": "chat", "deployments": ["a"], **route}],
        "cache": {"backend": backend},
    }
    if redis is not None:
        config["redis"] = redis
    return config


def ask(text: str = "hello", **options: object) -> dict[str, object]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], **options}
