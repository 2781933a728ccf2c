"""Config: TOML, dicts and the builder give the same validated object; mistakes name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubactors import ConfigError, HubConfigBuilder, config_from_dict, load_config
from hubactors.config import coerce_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hub.toml"

TOML = """
[[deployments]]
name = "primary"
provider = "simulated"
model = "sim-large"
rpm = 600
tpm = 200000
max_concurrency = 32
priority = 0
input_cost_per_mtok = 0.15
output_cost_per_mtok = 0.60

[[deployments]]
name = "backup"
provider = "openai"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
priority = 1

[[routes]]
name = "chat"
strategy = "failover"
deployments = ["primary", "backup"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_toml_and_builder_produce_the_same_config(tmp_path: Path) -> None:
    from_file = load_config(write(tmp_path, TOML))
    built = (
        HubConfigBuilder()
        .deployment(
            "primary",
            provider="simulated",
            model="sim-large",
            rpm=600,
            tpm=200000,
            max_concurrency=32,
            priority=0,
            input_cost_per_mtok=0.15,
            output_cost_per_mtok=0.60,
        )
        .deployment(
            "backup",
            provider="openai",
            model="gpt-4o-mini",
            api_key_env="OPENAI_API_KEY",
            priority=1,
        )
        .route("chat", ["primary", "backup"], strategy="failover")
        .build()
    )
    assert from_file == built


def test_the_shipped_example_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert [d.name for d in config.deployments] == ["primary", "backup"]
    assert config.route_table()["chat"].deployments == ["primary", "backup"]


def test_coerce_accepts_object_dict_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, TOML)
    config = load_config(path)
    assert coerce_config(config) is config
    assert coerce_config(str(path)) == config
    assert coerce_config(path) == config


def test_every_deployment_is_also_a_route_of_its_own_name(tmp_path: Path) -> None:
    table = load_config(write(tmp_path, TOML)).route_table()
    assert table["backup"].deployments == ["backup"]
    assert table["chat"].strategy == "failover"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (TOML.replace("rpm = 600", 'rpm = "fast"'), "deployments[0].rpm", "Expected `int"),
        (TOML.replace("rpm = 600", "rpm = -1"), "deployments[0].rpm", "must be positive"),
        (TOML.replace('provider = "openai"', 'provider = "nope"'), "deployments[1].provider", ""),
        (
            TOML.replace('"primary", "backup"]', '"primary", "ghost"]'),
            "routes[0].deployments",
            "unknown deployment 'ghost'",
        ),
        (TOML.replace('strategy = "failover"', 'strategy = "random"'), "routes[0].strategy", ""),
        (TOML.replace('name = "backup"', 'name = "primary"'), "deployments[1].name", "duplicate"),
        (TOML.replace("rpm = 600", "rpm = 600\ncolour = 'red'"), "deployments[0]", "colour"),
        (
            TOML.replace('api_key_env = "OPENAI_API_KEY"', 'api_key_env = "sk-abc123 secret"'),
            "deployments[1].api_key_env",
            "name of an environment variable",
        ),
    ],
)
def test_config_errors_name_file_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.file == str(path)
    assert error.key is not None and error.key.startswith(key)
    assert reason in str(error)
    assert str(path) in str(error)


def test_an_api_key_value_never_reaches_the_error_message(tmp_path: Path) -> None:
    secret = "sk-live-THISISASECRETKEY1234567890"
    path = write(tmp_path, TOML.replace('"OPENAI_API_KEY"', f'"{secret}"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert secret not in str(info.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[[deployments]\nname="))
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "missing.toml")


def test_a_config_needs_deployments_and_routes_need_members() -> None:
    with pytest.raises(ConfigError, match="at least one deployment"):
        config_from_dict({"deployments": []})
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            {
                "deployments": [{"name": "a", "provider": "simulated", "model": "m"}],
                "routes": [{"name": "r", "deployments": []}],
            }
        )
    assert info.value.key == "routes[0].deployments"


def test_azure_and_compatible_hosts_need_a_base_url() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"deployments": [{"name": "a", "provider": "azure", "model": "gpt"}]})
    assert info.value.key == "deployments[0].base_url"


def one_deployment(**options: object) -> dict[str, object]:
    return {"deployments": [{"name": "a", "provider": "simulated", "model": "m", **options}]}


@pytest.mark.parametrize(
    ("section", "field", "value", "reason"),
    [
        ("breaker", "window", 0.0, "must be positive"),
        ("breaker", "open_for", -1.0, "must be positive"),
        ("breaker", "min_calls", 0, "must be positive"),
        ("breaker", "half_open_probes", 0, "must be positive"),
        ("breaker", "slow_call_seconds", 0.0, "must be positive"),
        ("breaker", "failure_rate", 0.0, "within (0, 1]"),
        ("breaker", "failure_rate", 1.5, "within (0, 1]"),
        ("breaker", "slow_call_rate", -0.1, "within (0, 1]"),
        ("health", "interval", -5.0, "must not be negative"),
        ("health", "timeout", 0.0, "must be positive"),
        ("health", "max_backoff", -1.0, "must be positive"),
        ("timeouts", "connect", 0.0, "must be positive"),
        ("timeouts", "first_token", -1.0, "must be positive"),
        ("timeouts", "idle", 0.0, "must be positive"),
        ("timeouts", "total", -0.5, "must be positive"),
    ],
)
def test_resilience_settings_out_of_range_name_their_key(
    section: str, field: str, value: float, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(one_deployment(**{section: {field: value}}))
    assert info.value.key == f"deployments[0].{section}.{field}"
    assert reason in str(info.value)


def test_resilience_settings_at_their_limits_are_accepted() -> None:
    config = config_from_dict(
        one_deployment(
            breaker={"failure_rate": 1.0, "slow_call_rate": 1.0, "slow_call_seconds": None},
            health={"interval": 0.0},
            timeouts={"connect": None, "first_token": None, "idle": None, "total": None},
        )
    )
    assert config.deployments[0].timeouts.total is None
    assert config.deployments[0].health.interval == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("hedge_after", -1.0), ("queue_size", -1), ("max_attempts", 0), ("timeout", 0.0)],
)
def test_route_settings_out_of_range_name_their_key(field: str, value: float) -> None:
    data = one_deployment()
    data["routes"] = [{"name": "chat", "deployments": ["a"], field: value}]
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.key == f"routes[0].{field}"


def test_hedge_after_zero_means_adaptive_and_is_accepted() -> None:
    data = one_deployment()
    data["routes"] = [{"name": "chat", "deployments": ["a"], "hedge_after": 0}]
    assert config_from_dict(data).routes[0].hedge_after == 0
