"""No piece of a key ever escapes: not in an error, its chain, a log record, a metric or the CLI.

Keys of every provider's shape are generated per test (random lowercase and digits), put in
the environment, and sent to local upstreams that echo them back: whole, masked the way
OpenAI masks them, inside a URL, and in a redirect. Leaks are looked for by windows: no 8
consecutive characters of a key may appear anywhere.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from loguru import logger as root_logger

import hubactors
from hubactors._logging import logger as hub_logger
from hubactors.errors import (
    _REGISTRY,
    WINDOW,
    AuthenticationError,
    HubError,
    NoDeploymentAvailable,
    ProviderError,
    StreamInterruptedError,
    _SecretRegistry,
    redact,
    register_secret,
    scrub_exception,
)
from hubactors.providers.codecs._common import Secret
from tests.conftest import LogCapture
from tests.hub._echo import (
    Echo,
    EchoServer,
    echo_server,
    key_in_redirect,
    key_in_url_error,
    masked_key_error,
    whole_key_error,
)
from tests.providers._replay import FIXTURES, Planned, replay_server

ROOT = Path(__file__).resolve().parents[2]
SSE = "openai/openai-gpt41nano-text.sse"
SSE_BYTES = (FIXTURES / SSE).read_bytes()
KEY_ENV = "HUBACTORS_SECRETS_TEST_KEY"
_ALPHABET = string.ascii_lowercase + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


# kind -> (make a key, provider, path after the server's URL, extra deployment options)
SHAPES: dict[str, tuple[Callable[[], str], str, str, dict[str, Any]]] = {
    "openai": (lambda: "sk-proj-" + _random(48), "openai", "/v1", {}),
    "anthropic": (lambda: "sk-ant-api03-" + _random(86) + "AA", "anthropic", "", {}),
    "gemini": (lambda: "AIza" + _random(35), "gemini", "", {}),
    "azure": (lambda: secrets.token_hex(16), "azure", "", {"api_version": "2024-10-21"}),
    "custom": (lambda: _random(16), "openai-compatible", "/v1", {}),
}
ECHOES: dict[str, Callable[[str], Echo]] = {
    "whole": whole_key_error,
    "masked": masked_key_error,
    "url": key_in_url_error,
    "redirect": key_in_redirect,
}


def new_key(kind: str) -> str:
    return SHAPES[kind][0]()


def assert_no_key_piece(text: str, key: str) -> None:
    """No 8 consecutive characters of ``key`` (a shorter key: the whole key) are in ``text``."""
    pieces = {key[i : i + WINDOW] for i in range(len(key) - WINDOW + 1)} or {key}
    leaked = sorted(piece for piece in pieces if piece in text)
    assert not leaked, f"{len(leaked)} piece(s) of the key leaked, e.g. {leaked[0]!r}: {text!r}"


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable from it: causes, contexts, group members."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += (e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo += current.exceptions


def texts_of(exc: BaseException) -> list[str]:
    """Everything an error can show: str, repr, to_dict, its chain and its traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    for member in chain(exc):
        texts += (str(member), repr(member), repr(member.args))
        texts += getattr(member, "__notes__", [])
        if isinstance(member, HubError):
            texts.append(json.dumps(member.to_dict()))
    return texts


def assert_error_clean(exc: BaseException, key: str) -> None:
    for text in texts_of(exc):
        assert_no_key_piece(text, key)


@pytest.fixture
def log_records() -> Iterator[tuple[LogCapture, list[Any]]]:
    """hubactors' records, as formatted text (with every bound field) and as raw records."""
    capture, records = LogCapture(), []
    root_logger.enable("hubactors")
    text_sink = root_logger.add(
        capture.write,
        level="DEBUG",
        format="{level} {message} {extra}\n{exception}",
        diagnose=False,  # see hubactors._logging: traceback locals are beyond any patcher
    )
    json_sink = root_logger.add(capture.write, level="DEBUG", serialize=True, diagnose=False)
    record_sink = root_logger.add(lambda message: records.append(message.record), level="DEBUG")
    try:
        yield capture, records
    finally:
        for sink in (text_sink, json_sink, record_sink):
            root_logger.remove(sink)
        root_logger.disable("hubactors")


def assert_logs_clean(capture: LogCapture, records: list[Any], key: str) -> None:
    assert records, "nothing was logged"
    assert_no_key_piece(capture.text, key)
    for record in records:
        assert_no_key_piece(record["message"], key)
        assert_no_key_piece(repr(record["extra"]), key)
        assert_no_key_piece(str(record["extra"]), key)
        if record["exception"] is not None:
            assert_error_clean(record["exception"].value, key)


# --- redaction by value ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_every_window_of_a_registered_key_is_redacted_wherever_it_sits(kind: str) -> None:
    key = new_key(kind)
    Secret(key)
    for start in range(len(key) - WINDOW + 1):
        piece = key[start : start + WINDOW]
        text = f"upstream said: {piece}, twice: x{piece}y"
        cleaned = redact(text)
        assert_no_key_piece(cleaned, key)
        assert cleaned.startswith("upstream said: ")
    assert redact(f"a {key} b") == "a [REDACTED] b"


def test_overlapping_and_adjacent_pieces_become_one_marker() -> None:
    key = _random(40)
    register_secret(key)
    assert redact(f"<{key[:20]}{key[14:30]}>") == "<[REDACTED]>"
    assert redact(f"<{key[:10]} {key[20:30]}>") == "<[REDACTED] [REDACTED]>"


def test_text_without_a_key_is_left_alone() -> None:
    register_secret(_random(32))
    text = "rate limited: retry after 2.5 s (request req_8f3a, model gpt-4.1-nano)"
    assert redact(text) == text


def test_a_secret_passed_explicitly_is_redacted_without_being_registered() -> None:
    key = _random(30)
    assert redact(f"echo {key[4:16]}!", key) == "echo [REDACTED]!"
    assert key not in _REGISTRY
    assert redact(f"echo {key[4:16]}!") == f"echo {key[4:16]}!"


def test_a_short_key_is_redacted_whole() -> None:
    key = _random(6)
    Secret(key)
    assert redact(f"key={key}!") == "key=[REDACTED]!"
    assert redact(f"the key is {key}.") == "the key is [REDACTED]."


@pytest.mark.parametrize(
    "masked",
    [
        "sk-abc1************wxyz",
        "sk-proj-ab12********************yz89",
        "sk-ant-api03-****...****AAAA",
        "AIzaSyA1****************",
        "AIza…x9Q2",
    ],
)
def test_provider_masked_forms_are_redacted_by_shape(masked: str) -> None:
    cleaned = redact(f"Incorrect API key provided: {masked}. See your account.")
    assert cleaned == "Incorrect API key provided: [REDACTED]. See your account."


def test_the_registry_keeps_one_entry_per_key_and_forgets_the_oldest_past_its_limit() -> None:
    registry = _SecretRegistry(limit=2)
    first, second, third = _random(20), _random(20), _random(20)
    for _ in range(3):
        registry.add(first)
    assert len(registry) == 1
    registry.add(second)
    registry.add(first)  # registered again: now the most recent
    registry.add(third)
    assert len(registry) == 2
    assert second not in registry
    assert registry.scrub(f"{first} {second} {third}") == f"[REDACTED] {second} [REDACTED]"


def test_secrets_created_again_for_the_same_key_do_not_grow_the_registry() -> None:
    key = _random(40)
    Secret(key)
    size = len(_REGISTRY)
    for _ in range(1000):
        Secret(key)
    assert len(_REGISTRY) == size


# --- errors and their chains ----------------------------------------------------------------


def test_every_field_an_error_shows_is_redacted_when_it_is_built() -> None:
    key = new_key("openai")
    Secret(key)
    error = AuthenticationError(
        f"bad key {key}",
        deployment="primary",
        provider="openai",
        status=401,
        error_type=f"invalid:{key}",
        code=key,
        request_id=f"req_{key}",
    )
    assert_error_clean(error, key)
    assert error.to_dict()["request_id"] == "req_[REDACTED]"
    assert (error.deployment, error.provider) == ("primary", "openai")


def test_request_id_is_on_every_hub_error_and_redacted_when_set_later() -> None:
    key = new_key("anthropic")
    Secret(key)
    error = HubError("no")
    assert error.request_id is None
    assert "request_id" not in error.to_dict()
    error.request_id = f"hub-{key}"
    assert error.to_dict()["request_id"] == "hub-[REDACTED]"


def test_no_deployment_available_redacts_its_route_and_every_reason() -> None:
    key = new_key("gemini")
    Secret(key)
    error = NoDeploymentAvailable(key, [("a", f"ServerError: echoed {key}"), ("b", key[3:20])])
    assert_error_clean(error, key)
    assert [name for name, _ in error.attempts] == ["a", "b"]


def test_scrub_exception_cleans_causes_contexts_groups_and_notes_in_place() -> None:
    key = new_key("azure")
    Secret(key)
    url = f"https://upstream.example/v1?key={key}"
    request = httpx.Request("GET", url)
    response = httpx.Response(302, headers={"Location": url}, request=request)
    redirect = httpx.HTTPStatusError(f"Redirect to {url}", request=request, response=response)
    try:
        try:
            try:
                raise redirect
            except httpx.HTTPError:
                raise ProviderError("upstream redirected", deployment="a") from None
        except ProviderError as exc:
            inner = ValueError(f"while reporting {key}")
            inner.add_note(f"note: {key}")
            raise ExceptionGroup("several", [exc, inner, KeyError(key)]) from OSError(key)
    except ExceptionGroup as group:
        caught = group
    assert scrub_exception(caught) is caught
    assert_error_clean(caught, key)
    # The same objects, cleaned: nothing was replaced behind the caller's back.
    assert caught.exceptions[0].__context__ is redirect
    assert redirect.args == ("Redirect to https://upstream.example/v1?[REDACTED]",)


# --- log records ----------------------------------------------------------------------------


def test_the_log_patcher_redacts_the_message_nested_fields_and_exceptions(
    log_records: tuple[LogCapture, list[Any]],
) -> None:
    key = new_key("openai")
    Secret(key)
    try:
        try:
            raise OSError(f"proxy refused {key}")
        except OSError:
            raise RuntimeError("request failed") from None
    except RuntimeError as exc:
        failure = exc
    bound = ValueError(f"bad header Bearer {key}")
    hub_logger.bind(
        header=f"x-api-key: {key}",
        nested={"attempts": [{"key": key[:20]}, (key[10:30], 3)], "count": 2},
        error=bound,
    ).opt(exception=failure).error("upstream said: bad key {}", key[5:])
    capture, records = log_records
    assert_logs_clean(capture, records, key)
    (record,) = records
    assert record["extra"]["nested"]["count"] == 2
    assert record["extra"]["error"] is bound  # the same object, scrubbed in place
    assert "[REDACTED]" in record["message"]


# --- end to end: echoing upstreams ----------------------------------------------------------


def deployment_config(kind: str, url: str) -> hubactors.HubConfig:
    _, provider, path, options = SHAPES[kind]
    return (
        hubactors.HubConfigBuilder()
        .deployment(
            "a", provider=provider, model="m", base_url=url + path, api_key_env=KEY_ENV, **options
        )
        .route("chat", ["a"])
        .build()
    )


@asynccontextmanager
async def echoing_hub(
    kind: str, echo: Echo, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, EchoServer, hubactors.Hub]]:
    key = new_key(kind)
    monkeypatch.setenv(KEY_ENV, key)
    async with (
        echo_server(echo) as server,
        hubactors.open_hub(deployment_config(kind, server.url)) as hub,
    ):
        yield key, server, hub


def ask(model: str = "chat") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def failure_of(hub: hubactors.Hub, api: str, model: str = "chat") -> HubError:
    with pytest.raises(HubError) as info:
        if api == "complete":
            await hub.complete(ask(model))
        else:
            async with hub.stream(ask(model)) as events:
                async for _ in events:
                    pass
    return info.value


@pytest.mark.parametrize("api", ["complete", "stream"])
@pytest.mark.parametrize("echo", sorted(ECHOES))
@pytest.mark.parametrize("kind", sorted(SHAPES))
async def test_an_upstream_echoing_the_key_leaks_no_piece_of_it(
    kind: str,
    echo: str,
    api: str,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.testing.MockClock,
    log_records: tuple[LogCapture, list[Any]],
) -> None:
    async with echoing_hub(kind, ECHOES[echo](SHAPES[kind][1]), monkeypatch) as (key, server, hub):
        error = await failure_of(hub, api)
        assert server.credentials[-1] == key  # the upstream had the key to echo
        assert isinstance(error, ProviderError)
        assert "[REDACTED]" in str(error)
        assert_error_clean(error, key)

        # Logged the way an application would: as message, bound fields and exception.
        hub_logger.bind(
            error=error, detail={"attempts": [error.to_dict(), (error.message, str(error))]}
        ).opt(exception=error).warning("request failed: {!r}", error)
        assert_logs_clean(*log_records, key)

        # A request naming the key as its model: the error and the route label are clean.
        unknown = await failure_of(hub, api, model=key)
        assert_error_clean(unknown, key)
        metrics = hub.metrics_text()
        assert 'outcome="' + type(error).__name__ + '"' in metrics
        assert 'route="unknown"' in metrics  # the unknown route was counted, not named
        assert_no_key_piece(metrics, key)


async def test_an_upstream_echoing_another_deployments_key_leaks_no_piece_of_it(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    # A shared proxy that mixes up tenants: deployment a's upstream quotes b's key, which
    # a's codec knows nothing about. The hub holds both, so both are redacted.
    key_a, key_b = new_key("openai"), new_key("azure")
    monkeypatch.setenv(KEY_ENV, key_a)
    monkeypatch.setenv(KEY_ENV + "_B", key_b)
    echo_b = whole_key_error("openai")
    async with echo_server(lambda _: echo_b(key_b)) as server:
        config = (
            hubactors.HubConfigBuilder()
            .deployment(
                "a", provider="openai", model="m", base_url=server.url + "/v1", api_key_env=KEY_ENV
            )
            .deployment(
                "b",
                provider="azure",
                model="m",
                base_url=server.url,
                api_key_env=KEY_ENV + "_B",
                api_version="2024-10-21",
            )
            .route("chat", ["a"])
            .route("other", ["b"])
            .build()
        )
        async with hubactors.open_hub(config) as hub:
            error = await failure_of(hub, "complete")
    assert key_a in server.credentials
    assert_error_clean(error, key_b)
    assert_error_clean(error, key_a)


def stream_config(url: str) -> hubactors.HubConfig:
    return (
        hubactors.HubConfigBuilder()
        .deployment(
            "a", provider="openai-compatible", model="m", base_url=url + "/v1", api_key_env=KEY_ENV
        )
        .route("chat", ["a"])
        .build()
    )


async def test_an_error_raised_while_the_caller_iterates_a_stream_leaves_the_hub_scrubbed(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    key = new_key("custom")
    monkeypatch.setenv(KEY_ENV, key)
    async with (
        replay_server(Planned(fixture=SSE)) as server,
        hubactors.open_hub(stream_config(server.url)) as hub,
    ):
        with pytest.raises(RuntimeError) as info:
            async with hub.stream(ask()) as events:
                async for event in events:
                    if isinstance(event, hubactors.TextDelta):
                        try:
                            raise KeyError(f"no tool for {key}")
                        except KeyError:
                            raise RuntimeError(f"gave up holding {key}") from None
    # The caller's own exception passed through the hub's exit on its way out: cleaned.
    assert info.value.args == ("gave up holding [REDACTED]",)
    assert_error_clean(info.value, key)


async def test_a_stream_cut_off_mid_way_raises_from_the_iteration_with_a_clean_chain(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    key = new_key("openai")
    monkeypatch.setenv(KEY_ENV, key)
    cut = len(SSE_BYTES) // 2
    async with (
        replay_server(Planned(fixture=SSE, cut_after=cut)) as server,
        hubactors.open_hub(stream_config(server.url)) as hub,
    ):
        seen: list[Any] = []
        with pytest.raises(StreamInterruptedError) as info:
            async with hub.stream(ask()) as events:
                async for event in events:
                    seen.append(event)
    assert any(isinstance(event, hubactors.TextDelta) for event in seen)
    assert info.value.__context__ is not None  # the httpx error it was raised from
    assert_error_clean(info.value, key)


async def test_a_key_the_transport_refuses_to_send_is_scrubbed_from_the_httpx_error_kept_as_context(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    # A stray newline (a key pasted with its line end) is an illegal header value: h11
    # refuses it locally and its error quotes the header, key and all.
    key = new_key("openai") + "\n"
    monkeypatch.setenv(KEY_ENV, key)
    async with (
        replay_server(Planned(fixture=SSE)) as server,
        hubactors.open_hub(stream_config(server.url)) as hub,
    ):
        error = await failure_of(hub, "complete")
    assert not server.requests
    contexts = [member for member in chain(error) if not isinstance(member, HubError)]
    assert contexts, "the transport's own error is kept as context"
    assert any("[REDACTED]" in str(member) for member in contexts)
    assert_error_clean(error, key.strip())


# --- the command line -----------------------------------------------------------------------


async def run_cli(key: str, *args: str) -> tuple[int, str, str]:
    result = await trio.run_process(
        [sys.executable, "-m", "hubactors.cli", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, KEY_ENV: key},
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.mark.parametrize(
    ("kind", "echo", "flags"),
    [
        ("openai", "whole", ["--log-level", "DEBUG", "chat", "--json"]),
        ("custom", "redirect", ["--log-level", "DEBUG", "--log-json", "chat", "--stream"]),
    ],
)
async def test_the_cli_prints_no_piece_of_the_key_an_upstream_echoes(
    kind: str, echo: str, flags: list[str]
) -> None:
    key = new_key(kind)
    async with echo_server(ECHOES[echo]("openai")) as server:
        code, out, err = await run_cli(
            key,
            *flags,
            *("--provider", "openai", "--base-url", server.url + "/v1"),
            *("--api-key-env", KEY_ENV, "--model", "m", "hi"),
        )
    assert server.credentials == [key]
    assert code == 1, err
    assert_no_key_piece(out, key)
    assert_no_key_piece(err, key)
    shown = json.loads(out)["error"]["message"] if "--json" in flags else err
    assert "[REDACTED]" in shown
