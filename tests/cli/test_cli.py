"""The ``hubactors`` command as users and outside checks run it: a real process, real HTTP."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from hubactors.cli._main import _chat_config, build_parser, main
from hubactors.config import load_config
from tests.providers._replay import Planned, replay_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hub.toml"
KEY = "sk-test-cli-SECRETSECRETSECRET1234"


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = await trio.run_process(
        [sys.executable, "-m", "hubactors.cli", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


async def test_demo_json_reports_every_request_succeeding_despite_faults() -> None:
    code, out, err = await run_cli("demo", "--requests", "120", "--concurrency", "8", "--json")
    assert code == 0, err
    report = last_json(out)
    assert set(report) == {"requests", "succeeded", "failed", "p50_ms", "p99_ms", "deployments"}
    assert report["requests"] == 120
    assert report["succeeded"] == 120
    assert report["failed"] == 0
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert set(report["deployments"]) == {"alpha", "beta", "gamma"}
    for info in report["deployments"].values():
        assert set(info) == {"requests", "errors", "restarts", "cost"}
    served = sum(d["requests"] - d["errors"] for d in report["deployments"].values())
    assert served >= 120


async def test_demo_table_is_printed_without_json() -> None:
    code, out, err = await run_cli("demo", "--requests", "30", "--strategy", "round-robin")
    assert code == 0, err
    assert "deployment" in out and "alpha" in out and "30 requests: 30 succeeded" in out


async def test_check_config_accepts_the_example_and_names_the_key_of_a_mistake(
    tmp_path: Path,
) -> None:
    code, out, _ = await run_cli("check-config", str(EXAMPLE))
    assert code == 0 and "ok: 2 deployment(s), 1 route(s)" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("rpm = 600", "rpm = -5"))
    code, _, err = await run_cli("check-config", str(bad))
    assert code == 2
    assert str(bad) in err and "deployments[0].rpm" in err


async def test_chat_with_a_config_file_and_a_simulated_route() -> None:
    code, out, err = await run_cli(
        "chat", "--config", str(EXAMPLE), "--model", "chat", "--json", "Hello there"
    )
    assert code == 0, err
    answer = last_json(out)
    assert answer["finish_reason"] == "stop"
    assert answer["text"]
    assert set(answer) == {
        "text",
        "tool_calls",
        "finish_reason",
        "raw_finish_reason",
        "usage",
        "model",
        "cached",
    }


async def test_chat_against_an_openai_recording_streamed_and_not_gives_the_same_json() -> None:
    expected = json.loads((FIXTURES / "openai/openai-gpt41nano-text.expected.json").read_text())
    plan = Planned(fixture="openai/openai-gpt41nano-text.sse", split=64)
    async with replay_server(plan) as server:
        base = ["chat", "--provider", "openai", "--base-url", f"{server.url}/v1"]
        args = [*base, "--api-key-env", "HUB_TEST_KEY", "--model", "gpt-4.1-nano", "--json"]
        code, out, err = await run_cli(*args, "--stream", "hi", env={"HUB_TEST_KEY": KEY})
        assert code == 0, err
        streamed = last_json(out)
        assert KEY not in out + err
        request = server.requests[0]
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {KEY}"
    assert streamed["text"] == expected["text"]
    assert streamed["raw_finish_reason"] == "stop"
    assert streamed["usage"]["input_tokens"] == expected["usage"]["input_tokens"]
    assert streamed["usage"]["output_tokens"] == expected["usage"]["output_tokens"]


async def test_chat_prints_the_error_contract_and_exits_non_zero() -> None:
    body = (FIXTURES / "gemini/gemini-error-429-retry-info.json").read_bytes()
    async with replay_server(Planned(status=429, body=body)) as server:
        code, out, err = await run_cli(
            "chat",
            "--provider",
            "gemini",
            "--base-url",
            server.url,
            "--api-key-env",
            "HUB_TEST_KEY",
            "--model",
            "gemini-2.5-flash",
            "--json",
            "hi",
            env={"HUB_TEST_KEY": KEY},
        )
    assert code == 1
    error = last_json(out)["error"]
    assert error["type"] == "RateLimitError"
    assert error["status"] == 429
    assert error["retryable"] is True
    assert error["message"].startswith("You exceeded your current quota")
    assert KEY not in out + err


async def test_chat_with_a_missing_key_variable_is_a_config_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUB_MISSING_KEY"}
    args = ["chat", "--provider", "openai", "--api-key-env", "HUB_MISSING_KEY"]
    result = await trio.run_process(
        [sys.executable, "-m", "hubactors.cli", *args, "--model", "gpt-4o-mini", "--json", "hi"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    error = last_json(result.stdout.decode())["error"]
    assert error["type"] == "ConfigError"
    assert "HUB_MISSING_KEY" in error["message"]


# --- --timeout and --connect-timeout -------------------------------------------------------


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[int, list[trio.SocketStream]]]:
    """A loopback TCP server that accepts every connection and never answers."""
    accepted: list[trio.SocketStream] = []

    async def hold(stream: trio.SocketStream) -> None:
        accepted.append(stream)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, hold, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1], accepted
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def full_backlog() -> AsyncIterator[int]:
    """A loopback port whose accept queue is full: a new connection's SYN is dropped, so
    connecting hangs (on Linux, with ``listen(0)`` one unaccepted connection fills it)."""
    with trio.socket.socket() as listener, trio.socket.socket() as filler:
        await listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        await filler.connect(("127.0.0.1", port))
        yield port


def hub_toml(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f"""
[[deployments]]
name = "local"
provider = "openai-compatible"
model = "gpt-4o-mini"
base_url = "{base_url}"

[[routes]]
name = "chat"
deployments = ["local"]
max_attempts = 1
"""
    )
    return path


def chat_args(mode: str, base_url: str, tmp_path: Path) -> list[str]:
    if mode == "provider":
        return ["chat", "--provider", "openai", "--base-url", base_url, "--model", "gpt-4o-mini"]
    return ["chat", "--config", str(hub_toml(tmp_path, base_url)), "--model", "chat"]


@pytest.mark.parametrize(
    ("mode", "stream"), [("provider", False), ("provider", True), ("config", False)]
)
async def test_chat_gives_up_on_an_upstream_that_never_answers_at_its_timeout(
    tmp_path: Path, mode: str, stream: bool
) -> None:
    async with silent_server() as (port, accepted):
        args = chat_args(mode, f"http://127.0.0.1:{port}/v1", tmp_path)
        extra = ["--stream"] if stream else []
        started = trio.current_time()
        with trio.fail_after(30):
            code, out, err = await run_cli(
                *args, "--timeout", "0.5", *extra, "--json", "hi", env={"OPENAI_API_KEY": KEY}
            )
        elapsed = trio.current_time() - started
        assert accepted, "the request never reached the server"
    assert code == 1, err
    error = last_json(out)["error"]
    assert set(error) == {"type", "message", "status", "retryable"}
    assert error["type"] == "TotalTimeoutError"
    assert error["status"] is None
    assert error["retryable"] is False
    assert "deadline" in error["message"]
    assert elapsed < 10  # interpreter start-up included; the upstream would wait forever


@pytest.mark.parametrize("mode", ["provider", "config"])
async def test_chat_connect_timeout_ends_a_connection_that_never_opens(
    tmp_path: Path, mode: str
) -> None:
    async with full_backlog() as port:
        args = chat_args(mode, f"http://127.0.0.1:{port}/v1", tmp_path)
        started = trio.current_time()
        with trio.fail_after(30):
            code, out, err = await run_cli(
                *args,
                *("--connect-timeout", "0.5", "--timeout", "20", "--json", "hi"),
                env={"OPENAI_API_KEY": KEY},
            )
        elapsed = trio.current_time() - started
    assert code == 1, err
    error = last_json(out)["error"]
    assert error["type"] == "ConnectTimeoutError"
    assert error["status"] is None
    assert "connect timeout (0.5 s)" in error["message"]
    assert elapsed < 10  # well before --timeout: the connect timeout ended it


def test_chat_timeout_flags_reach_the_request_and_the_deployment() -> None:
    args = build_parser().parse_args(
        [
            *("chat", "--provider", "openai-compatible", "--base-url", "http://h.example/v1"),
            *("--model", "m", "--timeout", "900", "--connect-timeout", "2.5", "hi"),
        ]
    )
    config, _ = _chat_config(args)
    timeouts = config.deployments[0].timeouts
    assert timeouts.connect == 2.5
    # No per-attempt limit ends the request before the 900 s it was given.
    assert timeouts.attempt == 900.0 and timeouts.first_token == 900.0
    defaults = build_parser().parse_args(["chat", "--config", str(EXAMPLE), "--model", "c", "x"])
    assert defaults.timeout == 60.0 and defaults.connect_timeout is None


def test_chat_connect_timeout_applies_to_every_deployment_of_a_config() -> None:
    args = build_parser().parse_args(
        ["chat", "--config", str(EXAMPLE), "--model", "chat", "--connect-timeout", "3", "hi"]
    )
    config, _ = _chat_config(args)
    assert [d.timeouts.connect for d in config.deployments] == [3.0, 3.0]
    assert (
        config.deployments[0].timeouts.attempt
        == load_config(EXAMPLE).deployments[0].timeouts.attempt
    )


@pytest.mark.parametrize("value", ["-1", "0", "nan", "NaN", "inf", "-inf", "soon", ""])
@pytest.mark.parametrize("flag", ["--timeout", "--connect-timeout"])
def test_chat_refuses_a_timeout_that_is_not_a_positive_number_with_exit_2(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", "--provider", "openai", "--model", "m", f"{flag}={value}", "hi"])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err
