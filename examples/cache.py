"""The response cache: an identical request is answered once, then from the cache.

    python examples/cache.py [path/to/hub.toml]

Uses examples/hub.toml (simulated deployments, no key needed) with ``[cache] backend =
"memory"`` added; with ``backend = "redis"`` every hub process shares the entries.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import trio

import hubactors

CONFIG = Path(__file__).with_name("hub.toml")
REQUEST = {"model": "chat", "messages": [{"role": "user", "content": "Name a colour."}]}


async def main(config: dict[str, object]) -> None:
    async with hubactors.open_hub(config) as hub:
        first = await hub.complete(REQUEST)
        second = await hub.complete(REQUEST)
        print(f"first answer from {first.deployment} in {first.latency * 1e3:.1f} ms")
        print(f"second answer cached: {second.cached} in {second.latency * 1e3:.3f} ms")
        async with hub.stream(REQUEST) as events:
            text = "".join([e.text async for e in events if isinstance(e, hubactors.TextDelta)])
        same = text == first.text
        print(f"a stream of it replayed from the cache: {events.cached}, same text: {same}")
        fresh = await hub.complete({**REQUEST, "cache": {"skip": True}})
        print(f"with skip: cached {fresh.cached}")


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else CONFIG
    config = tomllib.loads(path.read_text())
    config["cache"] = {"backend": "memory", "ttl": 600}
    trio.run(main, config)
