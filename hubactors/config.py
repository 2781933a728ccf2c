"""Hub configuration: deployments, routes and runtime settings.

The same :class:`HubConfig` comes from a TOML file (:func:`load_config`), a dict, or the
fluent :class:`HubConfigBuilder`. API keys are named by environment variable
(``api_key_env``), never written in the config. Every mistake raises
:class:`~hubactors.errors.ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from hubactors._logging import logger
from hubactors.errors import ConfigError

ProviderName = Literal["simulated", "openai", "anthropic", "gemini", "azure", "openai-compatible"]
StrategyName = Literal[
    "priority", "round-robin", "weighted", "cost", "latency", "health", "failover"
]
LatencyDistribution = Literal["fixed", "uniform", "lognormal"]
RateLimitAlgorithm = Literal["token-bucket", "sliding-window"]
SharedScope = Literal["process", "redis"]
CacheBackendName = Literal["off", "memory", "redis"]


class Outage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A window of simulated time (seconds since the provider started) with every call failing."""

    start: float
    duration: float


class SimulationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a simulated deployment behaves. Deterministic for a given ``seed``.

    Latencies are seconds. ``latency`` is the mean of the distribution (``fixed`` uses it as
    is; ``uniform`` draws from ``latency ± jitter``; ``lognormal`` uses ``jitter`` as sigma).
    """

    seed: int = 0
    latency: float = 0.05
    distribution: LatencyDistribution = "lognormal"
    jitter: float = 0.25
    ttft: float = 0.02
    inter_token_delay: float = 0.005
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    crash_rate: float = 0.0
    outages: list[Outage] = msgspec.field(default_factory=list)
    output_tokens: int = 24
    reply: str | None = None


class TimeoutConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-attempt timeouts in seconds (``None`` disables one).

    ``attempt`` bounds one attempt from start to end (``AttemptTimeoutError``, retryable);
    the request's own deadline is the route's or request's ``timeout``. The old name of
    ``attempt``, ``total``, is still read from TOML and dicts, with a warning.
    """

    connect: float | None = 10.0
    first_token: float | None = 60.0
    idle: float | None = 30.0
    attempt: float | None = 600.0


class BreakerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Circuit breaker settings (see the resilience docs)."""

    failure_rate: float = 0.5
    window: float = 30.0
    min_calls: int = 10
    slow_call_seconds: float | None = None
    slow_call_rate: float = 1.0
    open_for: float = 30.0
    half_open_probes: int = 1


class HealthConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Active health probing; ``interval`` 0 disables probes (passive health still applies)."""

    interval: float = 0.0
    timeout: float = 5.0
    max_backoff: float = 300.0


class DeploymentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One deployment: a provider, a model, an endpoint and its limits."""

    name: str
    provider: ProviderName
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    extra_body: dict[str, Any] = msgspec.field(default_factory=dict)
    rpm: int | None = None
    tpm: int | None = None
    rate_limit_algorithm: RateLimitAlgorithm = "token-bucket"
    max_concurrency: int = 32
    adaptive_concurrency: bool = False
    priority: int = 0
    weight: float = 1.0
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None
    cached_input_cost_per_mtok: float | None = None
    context_window: int | None = None
    budget_usd_per_day: float | None = None
    budget_usd_per_month: float | None = None
    timeouts: TimeoutConfig = msgspec.field(default_factory=TimeoutConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    simulation: SimulationConfig = msgspec.field(default_factory=SimulationConfig)
    http2: bool = False
    transport: Literal["auto", "h11", "httpx"] = "auto"
    """The HTTP client: ``h11`` (lean HTTP/1.1), ``httpx`` (HTTP/2, proxies), or ``auto``:
    h11 unless ``http2`` is set or a proxy applies to the host."""


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a route retries once every deployment it may try has failed: full-jitter backoff
    from ``backoff_initial`` doubling up to ``backoff_max`` seconds between rounds. A
    provider's ``Retry-After`` replaces the backoff when it is at most ``max_retry_after``
    seconds; a longer one means that deployment is out for a while and is not waited for."""

    backoff_initial: float = 0.25
    backoff_max: float = 8.0
    max_retry_after: float = 60.0


class RouteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A logical model name and the deployments that serve it, picked by ``strategy``.

    ``max_attempts`` bounds tries per request (failover and retries together); ``timeout``
    is the default total deadline of a request on this route, in seconds. ``hedge_after``
    (opt-in) sends a second copy of a request to another deployment when the first has not
    answered (a completion) or produced its first token (a stream) after that many seconds;
    ``0`` means twice the first deployment's moving average of that time. ``queue_size``
    bounds the requests waiting while every deployment is at its limit. ``retry`` says how
    it backs off between rounds of failover. ``cache_sampled`` lets the response cache keep
    answers to requests with ``temperature > 0``; ``budget_usd_per_day`` and
    ``budget_usd_per_month`` cap the route's spend (UTC day, calendar month).
    """

    name: str
    deployments: list[str]
    strategy: StrategyName = "failover"
    max_attempts: int | None = None
    timeout: float = 120.0
    hedge_after: float | None = None
    queue_size: int = 1000
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    cache_sampled: bool = False
    budget_usd_per_day: float | None = None
    budget_usd_per_month: float | None = None


class SupervisionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How crashed deployment actors are restarted (OTP-style intensity within a period)."""

    intensity: int = 10
    period: float = 60.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0


class RedisConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Redis server that hub processes share state through (cache, limits, breakers).

    ``url`` is ``redis://``, ``rediss://`` (TLS) or ``unix://``; the ``REDIS_URL``
    environment variable overrides it. Every key the hub writes starts with ``key_prefix``.
    ``on_error`` says what happens while Redis is down or slow: ``open`` falls back to
    per-process state, ``closed`` refuses requests with ``SharedStateUnavailableError``.
    ``timeout`` bounds every Redis call, in seconds.
    """

    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "hubactors:"
    on_error: Literal["open", "closed"] = "open"
    timeout: float = 0.25


class CacheConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The response cache: ``off``, in ``memory`` (per process, LRU bounded by ``max_bytes``)
    or in ``redis`` (shared by every process); entries live ``ttl`` seconds."""

    backend: CacheBackendName = "off"
    ttl: float = 3600.0
    max_bytes: int = 64 * 1024 * 1024


class LimitsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where deployments' ``rpm``/``tpm`` are counted: per ``process``, or in ``redis``,
    shared by every hub process."""

    scope: SharedScope = "process"


class BreakersConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where breaker states and ``Retry-After`` cooldowns live: per ``process``, or in
    ``redis``, seen by every hub process."""

    scope: SharedScope = "process"


class HubConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole hub: deployments, routes, supervision and shutdown grace (seconds)."""

    deployments: list[DeploymentConfig]
    routes: list[RouteConfig] = msgspec.field(default_factory=list)
    supervision: SupervisionConfig = msgspec.field(default_factory=SupervisionConfig)
    shutdown_grace: float = 5.0
    mailbox_size: int = 1024
    redis: RedisConfig = msgspec.field(default_factory=RedisConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    breakers: BreakersConfig = msgspec.field(default_factory=BreakersConfig)

    @property
    def uses_redis(self) -> bool:
        """Whether any state lives in Redis (so the hub connects to it on open)."""
        return (
            self.cache.backend == "redis"
            or self.limits.scope == "redis"
            or self.breakers.scope == "redis"
        )

    def deployment(self, name: str) -> DeploymentConfig:
        """The deployment called ``name``; raises ``KeyError`` if there is none."""
        for dep in self.deployments:
            if dep.name == name:
                return dep
        raise KeyError(name)

    def route_table(self) -> dict[str, RouteConfig]:
        """Routes by name; each deployment is also reachable as a route of its own name."""
        table = {
            d.name: RouteConfig(name=d.name, deployments=[d.name], strategy="priority")
            for d in self.deployments
        }
        table.update({r.name: r for r in self.routes})
        return table


_PATH_RE = re.compile(r"at `\$(.*)`")


def _key_from_validation(message: str) -> tuple[str, str | None]:
    match = _PATH_RE.search(message)
    if not match:
        return message, None
    key = match.group(1).lstrip(".")
    reason = message[: match.start()].strip().rstrip("-").strip()
    return reason, key or None


def _upgrade_deprecated(
    data: dict[str, Any], file: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with deprecated keys renamed (a copy), and each new key's name in the file.

    ``timeouts.total`` is now ``timeouts.attempt`` (it always bounded one attempt, never the
    request); the old name is still read, for one release, with a warning.
    """
    deployments = data.get("deployments")
    if not isinstance(deployments, list):
        return data, {}
    upgraded: list[Any] = []
    written_as: dict[str, str] = {}
    for i, dep in enumerate(deployments):
        timeouts = dep.get("timeouts") if isinstance(dep, dict) else None
        if isinstance(timeouts, dict) and "total" in timeouts:
            key = f"deployments[{i}].timeouts"
            _check(
                "attempt" not in timeouts,
                "give `attempt` or the deprecated `total`, not both",
                f"{key}.total",
                file,
            )
            logger.warning(
                "{}: {}.total is deprecated and will be removed; call it {}.attempt",
                file or "config",
                key,
                key,
            )
            renamed = {("attempt" if name == "total" else name): v for name, v in timeouts.items()}
            dep = {**dep, "timeouts": renamed}
            written_as[f"{key}.attempt"] = f"{key}.total"
        upgraded.append(dep)
    return {**data, "deployments": upgraded}, written_as


def _convert(data: Any, file: str | None) -> HubConfig:
    try:
        config = msgspec.convert(data, HubConfig)
    except msgspec.ValidationError as exc:
        reason, key = _key_from_validation(str(exc))
        raise ConfigError(reason, file=file, key=key) from None
    validate_config(config, file=file)
    return config


def _with_redis_url_from_env(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``redis.url`` taken from ``REDIS_URL`` when that is set (a copy)."""
    url = os.environ.get("REDIS_URL")
    redis = data.get("redis", {})
    if not url or not isinstance(redis, dict):
        return data
    return {**data, "redis": {**redis, "url": url}}


def config_from_dict(data: dict[str, Any], *, file: str | None = None) -> HubConfig:
    """Validate a plain dict (as read from TOML or JSON) into a :class:`HubConfig`.

    ``REDIS_URL``, when set, overrides ``redis.url``.
    """
    if isinstance(data, dict):
        data = _with_redis_url_from_env(data)
    data, written_as = _upgrade_deprecated(data, file) if isinstance(data, dict) else (data, {})
    try:
        return _convert(data, file)
    except ConfigError as exc:
        if exc.key not in written_as:
            raise
        # Name the key as the file spells it, deprecated alias or not.
        raise ConfigError(exc.reason, file=file, key=written_as[exc.key]) from None


def load_config(path: str | os.PathLike[str]) -> HubConfig:
    """Read and validate a TOML config file."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=file) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    return config_from_dict(data, file=file)


def coerce_config(config: HubConfig | dict[str, Any] | str | os.PathLike[str]) -> HubConfig:
    """Accept a config object, a dict, or the path of a TOML file."""
    if isinstance(config, HubConfig):
        validate_config(config)
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    if isinstance(config, str | os.PathLike):
        return load_config(config)
    raise ConfigError(f"expected HubConfig, dict or path, got {type(config).__name__}")


# --- validation ------------------------------------------------------------------------------
# Whatever the first request would trip over (a URL httpx cannot send, a header h11 refuses,
# a NaN deadline, a body JSON cannot carry) is refused here, at load time, naming its key.

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?")
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 unreserved characters
_IPV4_LIKE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_TRANSPORT_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
    }
)
"""Framing and connection headers: the transport sets them (HTTP/2 forbids most)."""
_MODEL_IN_PATH = frozenset({"azure", "gemini"})
"""Providers whose codec puts the model (Azure: the deployment) in the URL path."""


def _check(condition: bool, reason: str, key: str, file: str | None) -> None:
    if not condition:
        raise ConfigError(reason, file=file, key=key)


def _join(key: str, name: object) -> str:
    """The key of entry ``name`` under ``key``; odd names quoted (surrogates escaped)."""
    if isinstance(name, str) and _KEY_NAME.fullmatch(name):
        return f"{key}.{name}" if key else name
    return f"{key}[{name!r}]"


def _is_unicode(text: str) -> bool:
    """Whether ``text`` can be encoded at all (no lone surrogates such as ``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_finite(value: float | None, key: str, file: str | None) -> None:
    finite = not isinstance(value, float) or math.isfinite(value)
    _check(finite, "must be a finite number (NaN and infinity mean nothing here)", key, file)


def _check_positive(value: float | None, key: str, file: str | None) -> None:
    _check_finite(value, key, file)
    _check(value is None or value > 0, "must be positive", key, file)


def _check_not_negative(value: float | None, key: str, file: str | None) -> None:
    _check_finite(value, key, file)
    _check(value is None or value >= 0, "must not be negative", key, file)


def _check_fraction(value: float, key: str, file: str | None) -> None:
    _check(0.0 < value <= 1.0, "must be within (0, 1]", key, file)


def _check_share(value: float, key: str, file: str | None) -> None:
    _check(0.0 <= value <= 1.0, "must be within 0..1", key, file)


def _strings(value: object, key: str) -> Iterator[tuple[str, str]]:
    """Every string in a config value (fields, list items, dict keys and values), keyed."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _strings(getattr(value, name), _join(key, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{key}[{i}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(name, _join(key, name))
            yield from _strings(item, _join(key, name))


def _check_text(value: object, key: str, file: str | None) -> None:
    for where, text in _strings(value, key):
        _check(_is_unicode(text), "contains a lone surrogate (not valid Unicode)", where, file)


def _json_problem(value: object, key: str) -> tuple[str, str] | None:
    """The first key in ``value`` that JSON cannot carry, and why; ``None`` if none."""
    if isinstance(value, float) and not math.isfinite(value):
        return key, "NaN and infinity have no JSON form"
    if isinstance(value, str):
        return None if _is_unicode(value) else (key, "contains a lone surrogate")
    if isinstance(value, dict):
        for name, item in value.items():
            where = _join(key, name)
            if not isinstance(name, str) or not _is_unicode(name):
                return where, "JSON object keys must be valid strings"
            if problem := _json_problem(item, where):
                return problem
        return None
    if isinstance(value, list | tuple):
        found = (_json_problem(item, f"{key}[{i}]") for i, item in enumerate(value))
        return next((problem for problem in found if problem), None)
    try:
        msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return key, f"a {type(value).__name__} cannot be encoded as JSON"
    return None


def _check_json(value: dict[str, Any], key: str, file: str | None) -> None:
    try:
        problem = _json_problem(value, key)
    except RecursionError:
        problem = key, "nested too deeply (or contains itself) to be encoded as JSON"
    if problem is not None:
        raise ConfigError(problem[1], file=file, key=problem[0])


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a base URL (absolute http(s), with a host, no query); or None."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http:// or https:// URL (e.g. https://api.example.com/v1)"
    if not host:
        return "must name a host (e.g. https://api.example.com/v1)"
    if port == 0:
        return "port must be within 1..65535"
    if "?" in url or "#" in url:
        return "must not have a query or a fragment: request paths are appended to it"
    try:
        if "[" in parts.netloc:
            ipaddress.IPv6Address(host)
        elif _IPV4_LIKE.fullmatch(host):
            ipaddress.IPv4Address(host)
        elif not host.isascii():
            host.encode("idna")
    except ValueError:
        return f"invalid host {host!r}"
    return None


def _check_endpoint(dep: DeploymentConfig, key: str, file: str | None) -> None:
    """What goes into the request line and headers: URL, api_version, model, headers."""
    if dep.base_url is None:
        needed = dep.provider in ("azure", "openai-compatible")
        _check(not needed, "required for this provider", f"{key}.base_url", file)
    elif problem := _url_problem(dep.base_url):
        raise ConfigError(problem, file=file, key=f"{key}.base_url")
    if dep.api_version is not None:
        _check(
            _URL_SAFE.fullmatch(dep.api_version) is not None,
            "goes in URLs and headers: letters, digits and - . _ ~ only",
            f"{key}.api_version",
            file,
        )
    if dep.provider in _MODEL_IN_PATH:
        name = dep.model.removeprefix("models/") if dep.provider == "gemini" else dep.model
        unsafe = any(c in "/?#" or c.isspace() or not c.isprintable() for c in name)
        _check(
            name not in ("", ".", "..") and not unsafe,
            "goes in the URL path: no spaces, '/', '?', '#' or control characters",
            f"{key}.model",
            file,
        )
    for name, value in dep.headers.items():
        where = _join(f"{key}.headers", name)
        _check(
            _HEADER_NAME.fullmatch(name) is not None,
            "not a header name (letters, digits and !#$%&'*+-.^_`|~)",
            where,
            file,
        )
        _check(name.lower() not in _TRANSPORT_HEADERS, "set by the HTTP transport", where, file)
        _check(
            _HEADER_VALUE.fullmatch(value) is not None,
            "a header value is visible ASCII: no line breaks, control characters, "
            "non-ASCII letters or surrounding spaces",
            where,
            file,
        )


def _validate_resilience(dep: DeploymentConfig, key: str, file: str | None) -> None:
    """Ranges of the breaker, health and timeout settings of one deployment."""
    breaker = dep.breaker
    _check_fraction(breaker.failure_rate, f"{key}.breaker.failure_rate", file)
    _check_fraction(breaker.slow_call_rate, f"{key}.breaker.slow_call_rate", file)
    for field in ("window", "open_for", "slow_call_seconds", "min_calls", "half_open_probes"):
        _check_positive(getattr(breaker, field), f"{key}.breaker.{field}", file)
    health = dep.health
    _check_not_negative(health.interval, f"{key}.health.interval", file)
    _check_positive(health.timeout, f"{key}.health.timeout", file)
    _check_positive(health.max_backoff, f"{key}.health.max_backoff", file)
    for field in ("connect", "first_token", "idle", "attempt"):
        _check_positive(getattr(dep.timeouts, field), f"{key}.timeouts.{field}", file)


def _validate_simulation(sim: SimulationConfig, key: str, file: str | None) -> None:
    for field in ("latency", "jitter", "ttft", "inter_token_delay", "retry_after"):
        _check_not_negative(getattr(sim, field), f"{key}.{field}", file)
    for field in ("error_rate", "rate_limit_rate", "crash_rate"):
        _check_share(getattr(sim, field), f"{key}.{field}", file)
    _check_not_negative(sim.output_tokens, f"{key}.output_tokens", file)
    for i, outage in enumerate(sim.outages):
        _check_not_negative(outage.start, f"{key}.outages[{i}].start", file)
        _check_positive(outage.duration, f"{key}.outages[{i}].duration", file)


def _validate_deployment(dep: DeploymentConfig, key: str, file: str | None) -> None:
    _check_json(dep.extra_body, f"{key}.extra_body", file)
    _check_text(dep, key, file)
    _check(bool(dep.name), "name must not be empty", f"{key}.name", file)
    _check(bool(dep.model), "model must not be empty", f"{key}.model", file)
    if dep.api_key_env is not None:
        _check(
            _ENV_NAME.fullmatch(dep.api_key_env) is not None,
            "must be the name of an environment variable, not a key",
            f"{key}.api_key_env",
            file,
        )
    _check_endpoint(dep, key, file)
    _check(
        not (dep.http2 and dep.transport == "h11"),
        "the h11 client speaks HTTP/1.1 only: use 'httpx' or 'auto' with http2",
        f"{key}.transport",
        file,
    )
    for field in ("rpm", "tpm", "max_concurrency", "weight", "context_window"):
        _check_positive(getattr(dep, field), f"{key}.{field}", file)
    for field in ("input_cost_per_mtok", "output_cost_per_mtok", "cached_input_cost_per_mtok"):
        _check_not_negative(getattr(dep, field), f"{key}.{field}", file)
    for field in ("budget_usd_per_day", "budget_usd_per_month"):
        _check_positive(getattr(dep, field), f"{key}.{field}", file)
    _validate_simulation(dep.simulation, f"{key}.simulation", file)
    _validate_resilience(dep, key, file)


def _validate_route(route: RouteConfig, key: str, known: set[str], file: str | None) -> None:
    _check_text(route, key, file)
    _check(bool(route.name), "name must not be empty", f"{key}.name", file)
    _check(bool(route.deployments), "at least one deployment", f"{key}.deployments", file)
    for name in route.deployments:
        _check(name in known, f"unknown deployment {name!r}", f"{key}.deployments", file)
    _check_positive(route.timeout, f"{key}.timeout", file)
    _check_positive(route.max_attempts, f"{key}.max_attempts", file)
    _check_finite(route.hedge_after, f"{key}.hedge_after", file)
    _check(
        route.hedge_after is None or route.hedge_after >= 0,
        "must not be negative (0 hedges after twice the measured latency)",
        f"{key}.hedge_after",
        file,
    )
    _check_not_negative(route.queue_size, f"{key}.queue_size", file)
    for field in ("budget_usd_per_day", "budget_usd_per_month"):
        _check_positive(getattr(route, field), f"{key}.{field}", file)
    retry = route.retry
    _check_not_negative(retry.backoff_initial, f"{key}.retry.backoff_initial", file)
    _check_not_negative(retry.backoff_max, f"{key}.retry.backoff_max", file)
    _check(
        retry.backoff_max >= retry.backoff_initial,
        "must not be less than backoff_initial",
        f"{key}.retry.backoff_max",
        file,
    )
    _check_not_negative(retry.max_retry_after, f"{key}.retry.max_retry_after", file)


def _validate_supervision(sup: SupervisionConfig, file: str | None) -> None:
    _check_not_negative(sup.intensity, "supervision.intensity", file)
    _check_positive(sup.period, "supervision.period", file)
    _check_not_negative(sup.backoff_initial, "supervision.backoff_initial", file)
    _check_not_negative(sup.backoff_max, "supervision.backoff_max", file)
    _check(
        sup.backoff_max >= sup.backoff_initial,
        "must not be less than backoff_initial",
        "supervision.backoff_max",
        file,
    )


def _redis_url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a Redis server; or None."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "must be a redis://, rediss:// or unix:// URL (e.g. redis://127.0.0.1:6379/0)"
    if parts.scheme == "unix":
        return None if parts.path else "must name a socket path (e.g. unix:///run/redis.sock)"
    if not parts.hostname:
        return "must name a host (e.g. redis://127.0.0.1:6379/0)"
    if port == 0:
        return "port must be within 1..65535"
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        return "the path is the database number (e.g. /0)"
    return None


def _validate_shared(config: HubConfig, file: str | None) -> None:
    """The ``[redis]`` and ``[cache]`` tables."""
    redis = config.redis
    _check_text(redis, "redis", file)
    if problem := _redis_url_problem(redis.url):
        from_env = " (from REDIS_URL)" if os.environ.get("REDIS_URL") == redis.url else ""
        raise ConfigError(problem + from_env, file=file, key="redis.url")
    _check(bool(redis.key_prefix), "must not be empty", "redis.key_prefix", file)
    _check(
        all(c.isprintable() and not c.isspace() for c in redis.key_prefix),
        "must not contain spaces or control characters",
        "redis.key_prefix",
        file,
    )
    _check_positive(redis.timeout, "redis.timeout", file)
    _check_positive(config.cache.ttl, "cache.ttl", file)
    _check_positive(config.cache.max_bytes, "cache.max_bytes", file)


def validate_config(config: HubConfig, *, file: str | None = None) -> None:
    """Everything msgspec's types cannot say: unique names, known references, ranges, and
    values that HTTP, URLs or JSON cannot carry. Raises :class:`ConfigError` naming the key."""
    _check(bool(config.deployments), "at least one deployment is required", "deployments", file)
    seen: set[str] = set()
    for i, dep in enumerate(config.deployments):
        _validate_deployment(dep, f"deployments[{i}]", file)
        _check(
            dep.name not in seen,
            f"duplicate deployment name {dep.name!r}",
            f"deployments[{i}].name",
            file,
        )
        seen.add(dep.name)
    route_names: set[str] = set()
    for i, route in enumerate(config.routes):
        key = f"routes[{i}]"
        _validate_route(route, key, seen, file)
        _check(
            route.name not in route_names, f"duplicate route {route.name!r}", f"{key}.name", file
        )
        route_names.add(route.name)
    _validate_supervision(config.supervision, file)
    _check_not_negative(config.shutdown_grace, "shutdown_grace", file)
    _check_not_negative(config.mailbox_size, "mailbox_size", file)
    _validate_shared(config, file)


class HubConfigBuilder:
    """Fluent construction of a :class:`HubConfig`; validated exactly like a TOML file.

    >>> config = (
    ...     HubConfigBuilder()
    ...     .deployment("primary", provider="simulated", model="sim-large")
    ...     .deployment("backup", provider="simulated", model="sim-small", priority=1)
    ...     .route("chat", ["primary", "backup"], strategy="failover")
    ...     .build()
    ... )
    """

    def __init__(self) -> None:
        self._data: dict[str, Any] = {"deployments": [], "routes": []}

    def deployment(
        self, name: str, *, provider: str, model: str, **options: Any
    ) -> HubConfigBuilder:
        """Add a deployment; ``options`` are :class:`DeploymentConfig` fields (nested: dicts)."""
        self._data["deployments"].append(
            {"name": name, "provider": provider, "model": model, **options}
        )
        return self

    def route(
        self, name: str, deployments: list[str], *, strategy: str = "failover", **options: Any
    ) -> HubConfigBuilder:
        """Add a route: the model name callers use, served by ``deployments``."""
        self._data["routes"].append(
            {"name": name, "deployments": list(deployments), "strategy": strategy, **options}
        )
        return self

    def supervision(self, **options: Any) -> HubConfigBuilder:
        """Set :class:`SupervisionConfig` fields."""
        self._data["supervision"] = {**self._data.get("supervision", {}), **options}
        return self

    def set(self, **options: Any) -> HubConfigBuilder:
        """Set top-level :class:`HubConfig` fields (``shutdown_grace``, ``mailbox_size``)."""
        self._data.update(options)
        return self

    def build(self) -> HubConfig:
        """The validated config; raises :class:`~hubactors.errors.ConfigError`."""
        return config_from_dict(self._data, file="<builder>")
