"""Hub configuration: deployments, routes and runtime settings.

The same :class:`HubConfig` comes from a TOML file (:func:`load_config`), a dict, or the
fluent :class:`HubConfigBuilder`. API keys are named by environment variable
(``api_key_env``), never written in the config. Every mistake raises
:class:`~hubactors.errors.ConfigError` naming the file, the key and the reason.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from hubactors.errors import ConfigError

ProviderName = Literal["simulated", "openai", "anthropic", "gemini", "azure", "openai-compatible"]
StrategyName = Literal[
    "priority", "round-robin", "weighted", "cost", "latency", "health", "failover"
]
LatencyDistribution = Literal["fixed", "uniform", "lognormal"]
RateLimitAlgorithm = Literal["token-bucket", "sliding-window"]


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
    """Per-attempt timeouts in seconds (``None`` disables one)."""

    connect: float | None = 10.0
    first_token: float | None = 60.0
    idle: float | None = 30.0
    total: float | None = 600.0


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
    timeouts: TimeoutConfig = msgspec.field(default_factory=TimeoutConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    simulation: SimulationConfig = msgspec.field(default_factory=SimulationConfig)
    http2: bool = False


class RouteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A logical model name and the deployments that serve it, picked by ``strategy``.

    ``max_attempts`` bounds tries per request (failover and retries together); ``timeout``
    is the default total deadline of a request on this route, in seconds. ``hedge_after``
    (opt-in) sends a second copy of a request to another deployment when the first has not
    answered (a completion) or produced its first token (a stream) after that many seconds;
    ``0`` means twice the first deployment's moving average of that time. ``queue_size``
    bounds the requests waiting while every deployment is at its limit.
    """

    name: str
    deployments: list[str]
    strategy: StrategyName = "failover"
    max_attempts: int | None = None
    timeout: float = 120.0
    hedge_after: float | None = None
    queue_size: int = 1000


class SupervisionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How crashed deployment actors are restarted (OTP-style intensity within a period)."""

    intensity: int = 10
    period: float = 60.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0


class HubConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole hub: deployments, routes, supervision and shutdown grace (seconds)."""

    deployments: list[DeploymentConfig]
    routes: list[RouteConfig] = msgspec.field(default_factory=list)
    supervision: SupervisionConfig = msgspec.field(default_factory=SupervisionConfig)
    shutdown_grace: float = 5.0
    mailbox_size: int = 1024

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


def config_from_dict(data: dict[str, Any], *, file: str | None = None) -> HubConfig:
    """Validate a plain dict (as read from TOML or JSON) into a :class:`HubConfig`."""
    try:
        config = msgspec.convert(data, HubConfig)
    except msgspec.ValidationError as exc:
        reason, key = _key_from_validation(str(exc))
        raise ConfigError(reason, file=file, key=key) from None
    validate_config(config, file=file)
    return config


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


def _check(condition: bool, reason: str, key: str, file: str | None) -> None:
    if not condition:
        raise ConfigError(reason, file=file, key=key)


def _check_positive(value: float | None, key: str, file: str | None) -> None:
    _check(value is None or value > 0, "must be positive", key, file)


def _check_fraction(value: float, key: str, file: str | None) -> None:
    _check(0.0 < value <= 1.0, "must be within (0, 1]", key, file)


def _validate_resilience(dep: DeploymentConfig, key: str, file: str | None) -> None:
    """Ranges of the breaker, health and timeout settings of one deployment."""
    breaker = dep.breaker
    _check_fraction(breaker.failure_rate, f"{key}.breaker.failure_rate", file)
    _check_fraction(breaker.slow_call_rate, f"{key}.breaker.slow_call_rate", file)
    for field in ("window", "open_for", "slow_call_seconds", "min_calls", "half_open_probes"):
        _check_positive(getattr(breaker, field), f"{key}.breaker.{field}", file)
    health = dep.health
    _check(health.interval >= 0, "must not be negative", f"{key}.health.interval", file)
    _check_positive(health.timeout, f"{key}.health.timeout", file)
    _check_positive(health.max_backoff, f"{key}.health.max_backoff", file)
    for field in ("connect", "first_token", "idle", "total"):
        _check_positive(getattr(dep.timeouts, field), f"{key}.timeouts.{field}", file)


def _validate_deployment(dep: DeploymentConfig, key: str, file: str | None) -> None:
    _check(bool(dep.name), "name must not be empty", f"{key}.name", file)
    _check(bool(dep.model), "model must not be empty", f"{key}.model", file)
    for field in ("rpm", "tpm"):
        _check_positive(getattr(dep, field), f"{key}.{field}", file)
    _check(dep.max_concurrency > 0, "must be positive", f"{key}.max_concurrency", file)
    _check(dep.weight > 0, "must be positive", f"{key}.weight", file)
    for field in ("input_cost_per_mtok", "output_cost_per_mtok", "cached_input_cost_per_mtok"):
        value = getattr(dep, field)
        _check(value is None or value >= 0, "must not be negative", f"{key}.{field}", file)
    if dep.api_key_env is not None:
        _check(
            re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dep.api_key_env) is not None,
            "must be the name of an environment variable, not a key",
            f"{key}.api_key_env",
            file,
        )
    if dep.provider in ("azure", "openai-compatible"):
        _check(dep.base_url is not None, "required for this provider", f"{key}.base_url", file)
    sim = dep.simulation
    for field in ("error_rate", "rate_limit_rate", "crash_rate"):
        value = getattr(sim, field)
        _check(0.0 <= value <= 1.0, "must be within 0..1", f"{key}.simulation.{field}", file)
    _validate_resilience(dep, key, file)


def _validate_route(route: RouteConfig, key: str, known: set[str], file: str | None) -> None:
    _check(bool(route.name), "name must not be empty", f"{key}.name", file)
    _check(bool(route.deployments), "at least one deployment", f"{key}.deployments", file)
    for name in route.deployments:
        _check(name in known, f"unknown deployment {name!r}", f"{key}.deployments", file)
    _check(route.timeout > 0, "must be positive", f"{key}.timeout", file)
    _check_positive(route.max_attempts, f"{key}.max_attempts", file)
    _check(
        route.hedge_after is None or route.hedge_after >= 0,
        "must not be negative (0 hedges after twice the measured latency)",
        f"{key}.hedge_after",
        file,
    )
    _check(route.queue_size >= 0, "must not be negative", f"{key}.queue_size", file)


def validate_config(config: HubConfig, *, file: str | None = None) -> None:
    """Cross-field checks msgspec cannot express: unique names, known references, ranges."""
    _check(bool(config.deployments), "at least one deployment is required", "deployments", file)
    seen: set[str] = set()
    for i, dep in enumerate(config.deployments):
        _check(
            dep.name not in seen,
            f"duplicate deployment name {dep.name!r}",
            f"deployments[{i}].name",
            file,
        )
        seen.add(dep.name)
        _validate_deployment(dep, f"deployments[{i}]", file)
    route_names: set[str] = set()
    for i, route in enumerate(config.routes):
        key = f"routes[{i}]"
        _check(
            route.name not in route_names, f"duplicate route {route.name!r}", f"{key}.name", file
        )
        route_names.add(route.name)
        _validate_route(route, key, seen, file)
    sup = config.supervision
    _check(sup.intensity >= 0, "must not be negative", "supervision.intensity", file)
    _check(sup.period > 0, "must be positive", "supervision.period", file)
    for field in ("backoff_initial", "backoff_max"):
        value = getattr(sup, field)
        _check(value >= 0, "must not be negative", f"supervision.{field}", file)
    _check(config.shutdown_grace >= 0, "must not be negative", "shutdown_grace", file)
    _check(config.mailbox_size >= 0, "must not be negative", "mailbox_size", file)


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
