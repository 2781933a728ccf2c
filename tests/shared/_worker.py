"""One hub process of the multi-process tests: ``python -m tests.shared._worker CONFIG
START COUNT WINDOW`` opens a hub from the JSON config, waits for the Unix time START, sends
COUNT requests at once and prints one JSON line: how many were served and the type of each
error."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import trio

import hubactors
from hubactors.shared import _limiter


async def main(config: dict[str, object], start: float, count: int) -> None:
    served = 0
    errors: Counter[str] = Counter()
    async with hubactors.open_hub(config) as hub:
        await trio.sleep(max(0.0, start - time.time()))

        async def one(i: int) -> None:
            nonlocal served
            request = {"model": "chat", "messages": [{"role": "user", "content": f"hi {i}"}]}
            try:
                await hub.complete(request)
            except hubactors.HubError as exc:
                errors[type(exc).__name__] += 1
            else:
                served += 1

        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one, i)
    print(json.dumps({"served": served, "errors": dict(errors)}))


if __name__ == "__main__":
    config_text, start_text, count_text, window_text = sys.argv[1:5]
    # The limits' window is shortened so that a test sees two windows in seconds.
    _limiter.WINDOW = float(window_text)
    trio.run(main, json.loads(config_text), float(start_text), int(count_text))
