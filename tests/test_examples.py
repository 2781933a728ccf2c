"""The examples run as shipped (on the simulated deployments of examples/hub.toml)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def run_example(name: str) -> str:
    result = await trio.run_process(
        [sys.executable, str(EXAMPLES / name)], capture_stdout=True, capture_stderr=True
    )
    return result.stdout.decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("embed.py", "primary: 8 requests"),
        ("stream.py", "[finished: stop]"),
        ("tools.py", "model asked for: [('get_weather'"),
        ("cache.py", "second answer cached: True"),
    ],
)
async def test_example_runs_and_prints_its_result(name: str, expected: str) -> None:
    assert expected in await run_example(name)
