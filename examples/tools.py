"""Tool calling: offer a function, run the call the model makes, send the result back.

    python examples/tools.py [path/to/hub.toml]

With the simulated deployments of examples/hub.toml the "model" calls the tool whenever
tool_choice is "required"; with a real provider the same code runs unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio

import hubactors
from hubactors import ChatRequest, Message, TextPart, Tool, ToolCallPart, ToolResultPart

CONFIG = Path(__file__).with_name("hub.toml")

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def get_weather(arguments: dict[str, Any]) -> str:
    return f"Sunny and 21°C in {arguments.get('city') or 'your city'}."


async def main(config: str) -> None:
    history = [Message(role="user", content="What's the weather in Lisbon?")]
    async with hubactors.open_hub(config) as hub:
        first = await hub.complete(
            ChatRequest(model="chat", messages=history, tools=[WEATHER], tool_choice="required")
        )
        print(f"model asked for: {[(c.name, c.arguments) for c in first.tool_calls]}")
        history.append(
            Message(
                role="assistant",
                content=[TextPart(first.text)]
                + [
                    ToolCallPart(id=c.id, name=c.name, arguments=c.arguments)
                    for c in first.tool_calls
                ],
            )
        )
        for call in first.tool_calls:
            result = ToolResultPart(
                tool_call_id=call.id or call.name, content=get_weather(call.arguments)
            )
            history.append(Message(role="tool", content=[result]))
        final = await hub.complete(ChatRequest(model="chat", messages=history, tools=[WEATHER]))
        print(f"answer: {final.text}")


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else str(CONFIG))
