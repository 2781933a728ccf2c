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
