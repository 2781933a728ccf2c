"""Embed a hub in a Trio application: many tasks share one long-lived hub.

    python examples/embed.py [path/to/hub.toml]

Uses examples/hub.toml (simulated deployments, no key needed) unless told otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

import hubactors

CONFIG = Path(__file__).with_name("hub.toml")


async def ask(hub: hubactors.Hub, question: str) -> None:
    try:
        response = await hub.complete(
            {"model": "chat", "messages": [{"role": "user", "content": question}]}
        )
    except hubactors.HubError as exc:
        print(f"{question!r} failed: {type(exc).__name__}: {exc}")
        return
    print(
        f"{question!r} -> {response.text[:40]!r}... "
        f"[{response.deployment}, {response.attempts} attempt(s), "
        f"{response.usage.total_tokens} tokens, ${response.cost:.6f}]"
    )


async def main(config: str) -> None:
    async with hubactors.open_hub(config) as hub:
        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(ask, hub, f"question {i}")
        for status in hub.status():
            print(
                f"{status.name}: {status.requests} requests, {status.errors} errors, "
                f"breaker {status.breaker}"
            )


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else str(CONFIG))
