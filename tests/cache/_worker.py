"""One hub process of the cross-process cache test: ``python -m tests.cache._worker CONFIG``
(a JSON hub config) sends the same completion, then the same stream, and prints one JSON
line per answer: ``{"cached": ..., "text": ...}``."""

from __future__ import annotations

import json
import sys

import trio

from hubactors import open_hub
from hubactors.model._types import TextDelta
from tests.cache._upstream import ask


async def main(config: dict[str, object]) -> None:
    async with open_hub(config) as hub:
        response = await hub.complete(ask())
        print(json.dumps({"cached": response.cached, "text": response.text}), flush=True)
        async with hub.stream(ask()) as events:
            text = "".join([e.text async for e in events if isinstance(e, TextDelta)])
        print(json.dumps({"cached": events.cached, "text": text}), flush=True)


if __name__ == "__main__":
    trio.run(main, json.loads(sys.argv[1]))
