"""Every recorded fixture, served over HTTP and read through create_http_provider.

Each fixture is served with the status its expected file gives (200, or the error's
status), whole and in small random writes, and must give exactly what the provider's
official SDK reported (or the SDK-free parse where the SDK failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubactors.config import DeploymentConfig
from hubactors.errors import ProviderError, error_from_status
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import ChatRequest, Finish, Message, StreamStart
from hubactors.providers._pool import ClientPool
from hubactors.providers._registry import create_http_provider
from hubactors.providers._transport import HttpProvider
from tests.providers._expected import (
    assert_matches,
    expected_for,
    fixture_files,
    http_status,
)
from tests.providers._replay import FIXTURES, Planned, replay_server

KEY_ENV = "HUBACTORS_E2E_TEST_KEY"
REQUEST = ChatRequest(model="route", messages=[Message(role="user", content="hi")])
FIXTURE_PATHS = fixture_files()


def provider_name(path: Path) -> str:
    """The configured provider a fixture is read with: every OpenAI-format variant is used."""
    folder = path.parent.name
    if folder != "openai":
        return folder
    if path.name.startswith("openai-"):
        return "openai"
    return "azure" if path.name.startswith("azure-") else "openai-compatible"


def make_provider(path: Path, url: str, pool: ClientPool) -> HttpProvider:
    deployment = DeploymentConfig(
        name=f"dep-{path.stem}",
        provider=provider_name(path),  # type: ignore[arg-type]
        model="test-model",
        base_url=url,
        api_key_env=KEY_ENV,
    )
    return create_http_provider(deployment, pool)


def plan(path: Path, mode: str) -> Planned:
    status = http_status(expected_for(path))
    if mode == "whole":
        return Planned(fixture=str(path.relative_to(FIXTURES)), status=status)
    return Planned(fixture=str(path.relative_to(FIXTURES)), status=status, split=9, seed=11)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "test-key-e2e-0123456789")


def test_every_fixture_is_covered() -> None:
    assert len(FIXTURE_PATHS) == 31
    assert {p.parent.name for p in FIXTURE_PATHS} == {"openai", "anthropic", "gemini"}


@pytest.mark.parametrize("mode", ["whole", "split"])
@pytest.mark.parametrize("path", FIXTURE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_fixture_read_through_http_provider_matches_expected(
    path: Path, mode: str, client_pool: ClientPool
) -> None:
    expected = expected_for(path)
    async with replay_server(plan(path, mode)) as server:
        p = make_provider(path, server.url, client_pool)
        if "error" in expected:
            await check_error(p, expected["error"], stream=path.suffix == ".sse")
        elif path.suffix == ".sse":
            await check_stream(p, expected)
        else:
            response = await p.complete(REQUEST)
            assert_matches(response, expected)
            # Identity and cost are the deployment's to stamp (tests/deployment/).
            assert (response.provider, response.deployment, response.cost) == ("", "", 0.0)
    assert len(server.requests) == 1


async def check_stream(p: HttpProvider, expected: dict[str, Any]) -> None:
    accumulator = StreamAccumulator()
    async with p.open_stream(REQUEST) as events:
        first = True
        async for event in events:
            if first:
                assert isinstance(event, StreamStart)
                first = False
            assert not accumulator.finished, "events after Finish"
            accumulator.add(event)
    assert isinstance(accumulator.finish, Finish)
    assert_matches(accumulator.response(), expected)


async def check_error(p: HttpProvider, want: dict[str, Any], *, stream: bool) -> None:
    with pytest.raises(ProviderError) as info:
        if stream:
            async with p.open_stream(REQUEST) as events:
                async for _ in events:
                    pass
        else:
            await p.complete(REQUEST)
    error = info.value
    assert isinstance(error, error_from_status(want["status"]))
    assert error.status == want["status"]
    assert want["message"] in error.message
    assert error.deployment == p.endpoint.deployment


@pytest.mark.parametrize(
    "path",
    [p for p in FIXTURE_PATHS if "error" in expected_for(p)],
    ids=lambda p: p.name,
)
async def test_error_fixture_raises_on_stream_entry_too(
    path: Path, client_pool: ClientPool
) -> None:
    async with replay_server(plan(path, "whole")) as server:
        p = make_provider(path, server.url, client_pool)
        await check_error(p, expected_for(path)["error"], stream=True)
