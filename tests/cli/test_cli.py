"""The ``hubactors`` command as users and outside checks run it: a real process, real HTTP."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import trio

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
