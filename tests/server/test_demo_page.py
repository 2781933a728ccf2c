"""examples/ws_demo.html streams a reply in headless Chromium (driven over the DevTools
protocol), through the token-as-subprotocol handshake a browser has to use."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from tests.server.conftest import TOKEN, serving

CHROMIUM = Path("/usr/bin/chromium")
PAGE = Path(__file__).resolve().parents[2] / "examples" / "ws_demo.html"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


class DevTools:
    """The least of the Chrome DevTools protocol: commands on one page's session."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        id = next(self._ids)
        message: dict[str, Any] = {"id": id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self._ws.send_message(json.dumps(message))
        while True:
            reply = json.loads(await self._ws.get_message())
            if reply.get("id") == id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


async def devtools_url(profile: Path) -> str:
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists():  # noqa: ASYNC110 - Chromium writes it once it listens
        await trio.sleep(0.02)
    while len(lines := port_file.read_text().split()) < 2:  # noqa: ASYNC110
        await trio.sleep(0.02)
    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; its absence fails the test (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing: install Debian's package with "
            "`apt-get update && apt-get install -y chromium` (.ci/run does it)"
        )
    return CHROMIUM


async def test_the_demo_page_streams_a_reply_in_headless_chromium(
    chromium: Path, tmp_path: Path
) -> None:
    async with serving(token=TOKEN) as server:
        prompt = "Stream me a reply"
        expected = await server.hub.complete(
            {"model": "chat", "messages": [{"role": "user", "content": prompt}]}
        )
        settings = {"url": server.ws_url, "token": TOKEN, "model": "chat", "prompt": prompt}
        page = f"{PAGE.as_uri()}#{urlencode(settings | {'autostart': '1'})}"
        profile = tmp_path / "profile"
        browser = await trio.lowlevel.open_process(
            [str(chromium), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with trio.fail_after(30):
                url = await devtools_url(profile)
                async with open_websocket_url(url, max_message_size=2**24) as ws:
                    tools = DevTools(ws)
                    target = await tools.call("Target.createTarget", url=page)
                    attached = await tools.call(
                        "Target.attachToTarget", targetId=target["targetId"], flatten=True
                    )
                    tools.session = attached["sessionId"]
                    status = ""
                    while not status.startswith(("done", "error", "refused")):
                        await trio.sleep(0.05)
                        status = (
                            await tools.evaluate("document.getElementById('status').textContent")
                            or ""
                        )
                    text = await tools.evaluate("document.getElementById('output').textContent")
        finally:
            browser.kill()
            await browser.wait()
    assert status.startswith("done: stop, served by sim"), status
    assert text == expected.text
