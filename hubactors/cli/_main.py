"""The ``hubactors`` command: ``demo``, ``chat`` and ``check-config``.

Exit codes: 0 success, 1 the request failed (provider or hub error), 2 bad usage or config.
With ``--json`` the commands print exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

import msgspec
import trio

from hubactors._logging import configure_cli_logging
from hubactors.cli._demo import format_table, progress_stream, run_demo
from hubactors.cli._serve import add_parser as add_serve_parser
from hubactors.config import HubConfig, HubConfigBuilder, load_config
from hubactors.errors import ConfigError, HubError
from hubactors.hub._hub import open_hub
from hubactors.model._accumulate import StreamAccumulator
from hubactors.model._types import ChatRequest, ChatResponse, Message, TextDelta
from hubactors.providers._registry import provider_names
from hubactors.routing import STRATEGY_NAMES

PROVIDERS = tuple(provider_names())


def _print_json(obj: Any) -> None:
    sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")
    sys.stdout.flush()


def error_json(exc: BaseException) -> dict[str, Any]:
    """The ``--json`` error contract: ``{"error": {"type", "message", "status", "retryable"}}``."""
    message = exc.message if isinstance(exc, HubError) else str(exc)
    return {
        "error": {
            "type": type(exc).__name__,
            "message": message,
            "status": getattr(exc, "status", None),
            "retryable": bool(getattr(exc, "retryable", False)),
        }
    }


def response_json(response: ChatResponse) -> dict[str, Any]:
    """The ``chat --json`` contract."""
    return {
        "text": response.text,
        "tool_calls": [
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in response.tool_calls
        ],
        "finish_reason": response.finish_reason.value,
        "raw_finish_reason": response.raw_finish_reason,
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cached_input_tokens": response.usage.cached_input_tokens,
        },
        "model": response.model,
        "cached": response.cached,
    }


# --- demo ----------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    progress = None if args.json else progress_stream()
    result = trio.run(
        lambda: run_demo(
            requests=args.requests,
            concurrency=args.concurrency,
            strategy=args.strategy,
            seed=args.seed,
            progress=progress,
        )
    )
    if args.json:
        _print_json(result.to_json())
    else:
        print(format_table(result))
    return 0 if result.failed == 0 else 1


# --- chat ----------------------------------------------------------------------------------

DEFAULT_CHAT_TIMEOUT = 60.0
"""Seconds ``chat`` waits for an answer, retries included, unless ``--timeout`` says."""


def _seconds(text: str) -> float:
    """An ``argparse`` type: a positive, finite number of seconds (else exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text}")
    return value


def _with_connect_timeout(config: HubConfig, seconds: float) -> HubConfig:
    """``config`` with every deployment's ``timeouts.connect`` set to ``seconds``."""
    deployments = [
        msgspec.structs.replace(
            dep, timeouts=msgspec.structs.replace(dep.timeouts, connect=seconds)
        )
        for dep in config.deployments
    ]
    return msgspec.structs.replace(config, deployments=deployments)


def _chat_config(args: argparse.Namespace) -> tuple[HubConfig, str]:
    if args.config:
        if args.provider:
            raise ConfigError("give either --config or --provider, not both")
        config = load_config(args.config)
        if args.connect_timeout is not None:
            config = _with_connect_timeout(config, args.connect_timeout)
        return config, args.model
    if not args.provider:
        raise ConfigError("give --config FILE or --provider NAME")
    # The request's deadline is --timeout: no per-attempt limit of this one deployment may
    # end it sooner (the defaults, 60 s to the first token and 600 s an attempt, could).
    timeouts: dict[str, float] = {"first_token": args.timeout, "attempt": args.timeout}
    if args.connect_timeout is not None:
        timeouts["connect"] = args.connect_timeout
    options: dict[str, Any] = {"max_concurrency": 1, "timeouts": timeouts}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.api_key_env:
        options["api_key_env"] = args.api_key_env
    if args.api_version:
        options["api_version"] = args.api_version
    config = (
        HubConfigBuilder()
        .deployment("cli", provider=args.provider, model=args.model, **options)
        .route(args.model, ["cli"], strategy="priority", max_attempts=args.retries + 1)
        .set(shutdown_grace=0.0)
        .build()
    )
    return config, args.model


async def _chat(
    config: HubConfig, request: ChatRequest, *, stream: bool, show: bool
) -> ChatResponse:
    async with open_hub(config) as hub:
        if not stream:
            return await hub.complete(request)
        accumulator = StreamAccumulator()
        async with hub.stream(request) as events:
            async for event in events:
                accumulator.add(event)
                if show and isinstance(event, TextDelta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
        return msgspec.structs.replace(accumulator.response(), cached=events.cached)


def _cmd_chat(args: argparse.Namespace) -> int:
    try:
        config, model = _chat_config(args)
        messages = []
        if args.system:
            messages.append(Message(role="system", content=args.system))
        messages.append(Message(role="user", content=args.prompt))
        request = ChatRequest(
            model=model,
            messages=messages,
            max_tokens=args.max_tokens,
            stream=args.stream,
            timeout=args.timeout,
        )
        response = trio.run(lambda: _chat(config, request, stream=args.stream, show=not args.json))
    except HubError as exc:
        if args.json:
            _print_json(error_json(exc))
        else:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    if args.json:
        _print_json(response_json(response))
    elif args.stream:
        sys.stdout.write("\n")
    else:
        print(response.text)
        for call in response.tool_calls:
            print(f"[tool call] {call.name}({msgspec.json.encode(call.arguments).decode()})")
    return 0


# --- check-config --------------------------------------------------------------------------


def _cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.path)
    except ConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    routes = config.route_table()
    print(f"ok: {len(config.deployments)} deployment(s), {len(config.routes)} route(s)")
    for route in config.routes:
        print(f"  route {route.name!r} ({route.strategy}): {', '.join(route.deployments)}")
    del routes
    return 0


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hubactors`` command."""
    parser = argparse.ArgumentParser(
        prog="hubactors", description="A resilient actor runtime for LLM providers."
    )
    parser.add_argument("--log-level", default="ERROR", help="log level on stderr")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a hub of simulated deployments under load")
    demo.add_argument("--requests", type=int, default=200)
    demo.add_argument("--concurrency", type=int, default=16)
    demo.add_argument("--strategy", choices=sorted(STRATEGY_NAMES), default="failover")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(func=_cmd_demo)

    chat = sub.add_parser("chat", help="send one prompt")
    chat.add_argument("--config", help="hub TOML file")
    chat.add_argument("--provider", choices=PROVIDERS)
    chat.add_argument("--base-url")
    chat.add_argument("--api-key-env", help="name of the environment variable with the key")
    chat.add_argument("--api-version", help="Azure OpenAI api-version")
    chat.add_argument("--model", required=True, help="route (with --config) or model name")
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--retries", type=int, default=0, help="retries after a retryable error")
    chat.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_CHAT_TIMEOUT,
        metavar="SECONDS",
        help="the request's total deadline, retries included (default 60); then exit 1",
    )
    chat.add_argument(
        "--connect-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="timeouts.connect of the deployment (with --config: of every deployment)",
    )
    chat.add_argument("--stream", action="store_true")
    chat.add_argument("--json", action="store_true", help="print one JSON object")
    chat.add_argument("prompt")
    chat.set_defaults(func=_cmd_chat)

    check = sub.add_parser("check-config", help="validate a hub TOML file")
    check.add_argument("path")
    check.set_defaults(func=_cmd_check_config)

    add_serve_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hubactors`` console script."""
    args = build_parser().parse_args(argv)
    configure_cli_logging(args.log_level, json=args.log_json)
    code: int = args.func(args)
    return code
