"""Stream a response and print it as it arrives.

python examples/stream.py [path/to/hub.toml] [prompt]
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

import hubactors

CONFIG = Path(__file__).with_name("hub.toml")


async def main(config: str, prompt: str) -> None:
    request = {"model": "chat", "messages": [{"role": "user", "content": prompt}]}
    async with hubactors.open_hub(config) as hub, hub.stream(request) as events:
        async for event in events:
            match event:
                case hubactors.StreamStart(deployment=deployment):
                    print(f"[served by {deployment}]")
                case hubactors.TextDelta(text=text):
                    print(text, end="", flush=True)
                case hubactors.UsageEvent(usage=usage):
                    print(f"\n[{usage.input_tokens} in, {usage.output_tokens} out]")
                case hubactors.Finish(finish_reason=reason):
                    print(f"[finished: {reason}]")


if __name__ == "__main__":
    args = sys.argv[1:]
    trio.run(main, args[0] if args else str(CONFIG), args[1] if len(args) > 1 else "Hello!")
