"""Config: TOML, dicts and the builder give the same validated object; mistakes name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hubactors import ConfigError, HubConfigBuilder, config_from_dict, load_config
from hubactors.config import TimeoutConfig, coerce_config
from tests.conftest import LogCapture

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
        ("timeouts", "attempt", -0.5, "must be positive"),
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
            timeouts={"connect": None, "first_token": None, "idle": None, "attempt": None},
        )
    )
    assert config.deployments[0].timeouts.attempt is None
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


# --- values the first request would trip over are refused at load time --------------------


def base_config() -> dict[str, Any]:
    """A valid config with every list the cases below reach into."""
    return {
        "deployments": [
            {
                "name": "a",
                "provider": "simulated",
                "model": "m",
                "simulation": {"outages": [{"start": 1.0, "duration": 2.0}]},
            }
        ],
        "routes": [{"name": "chat", "deployments": ["a"]}],
    }


def with_value(path: str, value: object, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``config`` (default :func:`base_config`) with ``value`` set at the key ``path``."""
    data = config if config is not None else base_config()
    parts = [m[0] or int(m[1]) for m in re.findall(r"([A-Za-z_][\w-]*)|\[(\d+)\]", path)]
    node: Any = data
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[parts[-1]] = value
    return data


def refusal(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return info.value


def deployment(provider: str = "openai", **options: object) -> dict[str, Any]:
    return {"deployments": [{"name": "a", "provider": provider, "model": "gpt", **options}]}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://nope", "http:// or https://"),
        ("localhost:8080", "http:// or https://"),
        ("api.openai.com/v1", "http:// or https://"),
        ("http://", "must name a host"),
        ("https:///v1", "must name a host"),
        ("http://local host/v1", "spaces"),
        ("http://localhost/v1 ", "spaces"),
        ("http://localhost/v1\n", "spaces or control"),
        ("http://local\x00host", "control characters"),
        ("http://localhost:99999", "not a valid URL"),
        ("http://localhost:port", "not a valid URL"),
        ("http://localhost:0", "1..65535"),
        ("http://[::1/v1", "not a valid URL"),
        ("http://[::zz]/v1", "valid"),  # newer Pythons refuse it in urlsplit already
        ("http://999.0.0.1/v1", "invalid host"),
        ("https://api.example.com/v1?key=x", "query"),
        ("https://api.example.com/v1#top", "fragment"),
    ],
)
def test_a_base_url_that_cannot_be_requested_is_refused(url: str, reason: str) -> None:
    error = refusal(deployment(base_url=url))
    assert error.key == "deployments[0].base_url"
    assert reason in error.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "HTTP://127.0.0.1:11434/v1/",
        "http://[::1]:8080",
        "https://my-resource.openai.azure.com",
        "https://bücher.example/v1",
    ],
)
def test_absolute_http_urls_with_a_host_are_accepted(url: str) -> None:
    assert config_from_dict(deployment(base_url=url)).deployments[0].base_url == url


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("X-Trace", "a\r\nInjected: yes", "headers.X-Trace"),
        ("X-Trace", "line\nbreak", "headers.X-Trace"),
        ("X-Trace", "nul\x00", "headers.X-Trace"),
        ("X-Trace", "bell\x07", "headers.X-Trace"),
        ("X-Trace", "del\x7f", "headers.X-Trace"),
        ("X-Trace", "café", "headers.X-Trace"),
        ("X-Trace", " padded", "headers.X-Trace"),
        ("X-Trace", "padded\t", "headers.X-Trace"),
        ("X Trace", "v", "headers['X Trace']"),
        ("X-Trace:", "v", "headers['X-Trace:']"),
        ("", "v", "headers['']"),
        ("Trace\n", "v", "headers['Trace\\n']"),
        ("Tracé", "v", "headers['Tracé']"),
        ("Content-Length", "5", "headers.Content-Length"),
        ("transfer-encoding", "chunked", "headers.transfer-encoding"),
        ("Connection", "close", "headers.Connection"),
    ],
)
def test_headers_http_cannot_carry_are_refused_naming_the_header(
    name: str, value: str, key: str
) -> None:
    error = refusal(deployment(headers={"X-Fine": "ok", name: value}))
    assert error.key == f"deployments[0].{key}"


def test_a_refused_header_value_is_not_repeated_in_the_error() -> None:
    secret = "Bearer sk-test-HEADERVALUE0123456789\r\n"
    error = refusal(deployment(headers={"Authorization": secret}))
    assert error.key == "deployments[0].headers.Authorization"
    assert "HEADERVALUE" not in str(error)


def test_ordinary_headers_are_accepted() -> None:
    headers = {"X-Empty": "", "Authorization": "Bearer t0k3n", "X-List": "a, b\tc", "~!#": "%"}
    assert config_from_dict(deployment(headers=headers)).deployments[0].headers == headers


@pytest.mark.parametrize(
    "version", ["", "2024 10 21", "v1/beta", "v1?x=1", "v1#", "2024-10-21\r\n", "v1%2F", "vé"]
)
@pytest.mark.parametrize("provider", ["azure", "gemini", "anthropic"])
def test_an_api_version_that_cannot_go_in_a_url_or_header_is_refused(
    provider: str, version: str
) -> None:
    error = refusal(deployment(provider, base_url="https://h.example", api_version=version))
    assert error.key == "deployments[0].api_version"


@pytest.mark.parametrize("version", ["2024-10-21", "2024-12-01-preview", "v1beta", "2023-06-01"])
def test_usual_api_versions_are_accepted(version: str) -> None:
    data = deployment("azure", base_url="https://h.example", api_version=version)
    assert config_from_dict(data).deployments[0].api_version == version


@pytest.mark.parametrize(
    "model",
    ["gpt 4o", "team/gpt", "gpt?x=1", "gpt#1", "gpt\n", "gpt\x00", "\tgpt", ".", "..", "models/"],
)
@pytest.mark.parametrize("provider", ["gemini", "azure"])
def test_a_model_that_goes_in_the_url_path_must_be_one_path_segment(
    provider: str, model: str
) -> None:
    data = deployment(provider, base_url="https://h.example")
    data["deployments"][0]["model"] = model
    error = refusal(data)
    assert error.key == "deployments[0].model"
    assert "URL path" in error.reason


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("gemini", "gemini-2.5-flash"),
        ("gemini", "models/gemini-2.5-flash"),
        ("gemini", "claude-3-5-sonnet@20240620"),
        ("azure", "my_gpt-4o.deployment"),
        ("openai", "team/gpt 4o?#"),  # in the JSON body, any text goes
        ("anthropic", "claude haiku/latest"),
    ],
)
def test_models_are_accepted_where_the_codec_can_send_them(provider: str, model: str) -> None:
    data = deployment(provider, base_url="https://h.example")
    data["deployments"][0]["model"] = model
    assert config_from_dict(data).deployments[0].model == model


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        *(
            (f"deployments[0].{field}", bad)
            for field in ("rpm", "tpm", "max_concurrency", "context_window")
            for bad in (0, -1)
        ),
        *(("deployments[0].weight", bad) for bad in (0.0, -1.0, NAN, INF)),
        *(
            (f"deployments[0].{field}", bad)
            for field in (
                "input_cost_per_mtok",
                "output_cost_per_mtok",
                "cached_input_cost_per_mtok",
            )
            for bad in (-0.01, NAN, INF)
        ),
        *(
            (f"deployments[0].timeouts.{field}", bad)
            for field in ("connect", "first_token", "idle", "attempt")
            for bad in (0.0, -1.0, NAN, INF)
        ),
        *(
            (f"deployments[0].breaker.{field}", bad)
            for field in ("window", "open_for", "slow_call_seconds")
            for bad in (0.0, -1.0, NAN, INF)
        ),
        ("deployments[0].breaker.min_calls", 0),
        ("deployments[0].breaker.half_open_probes", -1),
        *(("deployments[0].breaker.failure_rate", bad) for bad in (0.0, 1.01, NAN, INF)),
        ("deployments[0].breaker.slow_call_rate", NAN),
        *(("deployments[0].health.interval", bad) for bad in (-1.0, NAN, INF)),
        *(
            (f"deployments[0].health.{field}", bad)
            for field in ("timeout", "max_backoff")
            for bad in (0.0, -1.0, NAN, INF)
        ),
        *(
            (f"deployments[0].simulation.{field}", bad)
            for field in ("latency", "jitter", "ttft", "inter_token_delay", "retry_after")
            for bad in (-0.1, NAN, INF)
        ),
        *(
            (f"deployments[0].simulation.{field}", bad)
            for field in ("error_rate", "rate_limit_rate", "crash_rate")
            for bad in (-0.1, 1.1, NAN)
        ),
        ("deployments[0].simulation.output_tokens", -1),
        *(("deployments[0].simulation.outages[0].start", bad) for bad in (-1.0, NAN, INF)),
        *(("deployments[0].simulation.outages[0].duration", bad) for bad in (0.0, NAN, INF)),
        *(("routes[0].timeout", bad) for bad in (0.0, -5.0, NAN, INF)),
        *(("routes[0].hedge_after", bad) for bad in (-0.5, NAN, INF)),
        ("routes[0].max_attempts", 0),
        ("routes[0].queue_size", -1),
        ("supervision.intensity", -1),
        *(("supervision.period", bad) for bad in (0.0, NAN, INF)),
        *(("supervision.backoff_initial", bad) for bad in (-0.1, NAN, INF)),
        *(("supervision.backoff_max", bad) for bad in (-0.1, NAN, INF, 0.01)),
        *(("shutdown_grace", bad) for bad in (-1.0, NAN, INF)),
        ("mailbox_size", -1),
    ],
)
def test_numbers_out_of_range_nan_or_infinite_are_refused_naming_the_key(
    key: str, value: float
) -> None:
    assert refusal(with_value(key, value)).key == key


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("deployments[0].priority", -3),
        ("deployments[0].simulation.seed", -1),
        ("deployments[0].simulation.output_tokens", 0),
        ("deployments[0].simulation.latency", 0.0),
        ("deployments[0].input_cost_per_mtok", 0.0),
        ("deployments[0].health.interval", 0.0),
        ("routes[0].hedge_after", 0.0),
        ("routes[0].queue_size", 0),
        ("supervision.intensity", 0),
        ("supervision.backoff_max", 0.05),
        ("shutdown_grace", 0.0),
        ("mailbox_size", 0),
    ],
)
def test_numbers_at_their_limits_are_accepted(key: str, value: float) -> None:
    config_from_dict(with_value(key, value))


def test_nan_and_infinity_in_a_toml_file_are_refused(tmp_path: Path) -> None:
    for text, key in [
        (TOML.replace("rpm = 600", "weight = nan"), "deployments[0].weight"),
        (TOML.replace("0.60\n", "0.60\n[deployments.timeouts]\nidle = inf\n"), "timeouts.idle"),
        (TOML.replace('strategy = "failover"', "timeout = -inf"), "routes[0].timeout"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, text))
        assert info.value.key is not None and info.value.key.endswith(key)


@pytest.mark.parametrize(
    "key",
    [
        "deployments[0].name",
        "deployments[0].model",
        "deployments[0].base_url",
        "deployments[0].api_version",
        "deployments[0].api_key_env",
        "deployments[0].simulation.reply",
        "deployments[0].headers.X-Trace",
        "deployments[0].extra_body.user",
        "deployments[0].extra_body.metadata.tags[1]",
        "routes[0].name",
        "routes[0].deployments[0]",
    ],
)
def test_a_lone_surrogate_anywhere_is_refused_naming_the_key(key: str) -> None:
    data = base_config()
    data["deployments"][0]["extra_body"] = {"metadata": {"tags": ["ok", "ok"]}}
    error = refusal(with_value(key, "x\ud800", data))
    assert error.key == key
    assert "surrogate" in error.reason
    str(error).encode("utf-8")  # the message itself can be printed


def test_a_lone_surrogate_in_a_dict_key_is_named_escaped() -> None:
    error = refusal(deployment(headers={"x\udc80": "v"}))
    assert error.key == "deployments[0].headers['x\\udc80']"
    assert "surrogate" in error.reason
    error = refusal(deployment(extra_body={"x\udc80": 1}))
    assert error.key == "deployments[0].extra_body['x\\udc80']"


@pytest.mark.parametrize(
    "name", ["", "1ST_KEY", "MY-KEY", "OPENAI API KEY", "KEY=sk", "sk-abc.def", "KEY\n", "KÉY"]
)
def test_api_key_env_must_be_an_environment_variable_name(name: str) -> None:
    error = refusal(deployment(api_key_env=name))
    assert error.key == "deployments[0].api_key_env"


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "_PRIVATE", "key2", "A"])
def test_environment_variable_names_are_accepted(name: str) -> None:
    assert config_from_dict(deployment(api_key_env=name)).deployments[0].api_key_env == name


class Opaque:
    pass


def recursive() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(
    ("extra_body", "key", "reason"),
    [
        ({"temperature": NAN}, "extra_body.temperature", "no JSON form"),
        ({"options": {"scale": [1.0, INF]}}, "extra_body.options.scale[1]", "no JSON form"),
        ({"client": Opaque()}, "extra_body.client", "Opaque cannot be encoded"),
        ({"options": {1: "one"}}, "extra_body.options[1]", "keys must be valid strings"),
        ({"options": {(1, 2): "pair"}}, "extra_body.options[(1, 2)]", "keys must be"),
        ({"user": "x\ud800"}, "extra_body.user", "surrogate"),
        ({"loop": recursive()}, "extra_body", "contains itself"),
    ],
)
def test_extra_body_that_json_cannot_carry_is_refused_naming_the_key(
    extra_body: dict[str, Any], key: str, reason: str
) -> None:
    error = refusal(deployment(extra_body=extra_body))
    assert error.key == f"deployments[0].{key}"
    assert reason in error.reason


def test_extra_body_of_json_values_is_accepted() -> None:
    extra = {"safetySettings": [{"category": "X", "threshold": None}], "n": 2, "stop": True}
    assert config_from_dict(deployment(extra_body=extra)).deployments[0].extra_body == extra


def test_backoff_max_below_backoff_initial_is_refused() -> None:
    error = refusal(with_value("supervision", {"backoff_initial": 1.0, "backoff_max": 0.5}))
    assert error.key == "supervision.backoff_max"


# --- timeouts.attempt and its deprecated alias timeouts.total ------------------------------


def test_timeouts_attempt_is_read_from_toml(tmp_path: Path) -> None:
    text = TOML.replace("0.60\n", "0.60\n[deployments.timeouts]\nattempt = 42.0\n")
    config = load_config(write(tmp_path, text))
    assert config.deployments[0].timeouts.attempt == 42.0
    assert config.deployments[1].timeouts.attempt == 600.0


def test_the_deprecated_total_still_sets_attempt_and_warns(
    tmp_path: Path, hub_logs: LogCapture
) -> None:
    text = TOML.replace("0.60\n", "0.60\n[deployments.timeouts]\ntotal = 42.0\n")
    path = write(tmp_path, text)
    assert load_config(path).deployments[0].timeouts.attempt == 42.0
    assert "WARNING" in hub_logs.text
    assert "deployments[0].timeouts.total is deprecated" in hub_logs.text
    assert "deployments[0].timeouts.attempt" in hub_logs.text and str(path) in hub_logs.text
    built = HubConfigBuilder().deployment(
        "a", provider="simulated", model="m", timeouts={"total": 7}
    )
    assert built.build().deployments[0].timeouts.attempt == 7


def test_total_and_attempt_together_are_refused(tmp_path: Path) -> None:
    text = TOML.replace("0.60\n", "0.60\n[deployments.timeouts]\ntotal = 1.0\nattempt = 2.0\n")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "deployments[0].timeouts.total"
    assert info.value.file == str(path)
    assert "not both" in info.value.reason


@pytest.mark.parametrize(("value", "reason"), [(-1.0, "must be positive"), ("soon", "Expected")])
def test_a_bad_deprecated_total_is_named_as_written(value: object, reason: str) -> None:
    error = refusal(one_deployment(timeouts={"idle": 5.0, "total": value}))
    assert error.key == "deployments[0].timeouts.total"
    assert reason in error.reason


def test_the_old_name_is_gone_from_the_struct() -> None:
    assert "total" not in TimeoutConfig.__struct_fields__
    assert TimeoutConfig().attempt == 600.0


def test_http2_on_the_http11_client_is_refused_naming_the_transport() -> None:
    data = {
        "deployments": [
            {"name": "a", "provider": "openai", "model": "m", "http2": True, "transport": "h11"}
        ],
        "routes": [{"name": "chat", "deployments": ["a"]}],
    }
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.key == "deployments[0].transport"
    for transport in ("auto", "httpx"):
        data["deployments"][0]["transport"] = transport
        assert config_from_dict(data).deployments[0].transport == transport
