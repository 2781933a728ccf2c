"""The model catalog: lookups by name and snapshot, and config overrides."""

from __future__ import annotations

import pytest

from hubactors.config import DeploymentConfig
from hubactors.providers._base import Capabilities, Pricing
from hubactors.providers._catalog import (
    MODELS,
    capabilities_for,
    lookup_model,
    pricing_for,
)


def deployment(model: str, **fields: object) -> DeploymentConfig:
    return DeploymentConfig(name="d", provider="openai", model=model, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1-nano",
        "gpt-5",
        "o3",
        "o4-mini",
        "claude-opus-4-5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "claude-3-5-haiku",
        "gemini-2.5-pro",
        "gemini-2.5-flash-lite",
        "gemini-3-pro-preview",
        "sim-large",
        "sim-small",
        "sim-fast",
    ],
)
def test_known_models_are_found_by_exact_name(name: str) -> None:
    info = lookup_model(name)
    assert info is not None and info.name == name
    assert info.pricing.output_per_mtok >= info.pricing.input_per_mtok > 0


def test_exact_lookup_returns_the_published_list_price() -> None:
    info = lookup_model("gpt-4o-mini")
    assert info is not None
    assert info.provider == "openai"
    assert info.pricing == Pricing(
        input_per_mtok=0.15, output_per_mtok=0.60, cached_input_per_mtok=0.075
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-5-nano-2025-08-07", "gpt-5-nano"),
        ("o3-2025-04-16", "o3"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite-001", "gemini-2.5-flash-lite"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("openai/GPT-4o-Mini", "gpt-4o-mini"),
    ],
)
def test_variants_resolve_to_the_longest_known_base_name(name: str, expected: str) -> None:
    info = lookup_model(name)
    assert info is not None and info.name == expected


@pytest.mark.parametrize("name", ["llama-3.1-70b", "gpt-4oo", "o30", "gpt-5.5", "", "claude"])
def test_unknown_models_and_non_boundary_prefixes_are_not_found(name: str) -> None:
    assert lookup_model(name) is None


def test_every_catalog_entry_is_keyed_by_its_own_name() -> None:
    assert all(key == info.name for key, info in MODELS.items())


def test_pricing_comes_from_the_catalog_without_overrides() -> None:
    assert pricing_for(deployment("gpt-4o-2024-08-06")) == MODELS["gpt-4o"].pricing


def test_config_prices_override_the_catalog_one_by_one() -> None:
    priced = pricing_for(deployment("gpt-4o", input_cost_per_mtok=1.0))
    assert priced == Pricing(input_per_mtok=1.0, output_per_mtok=10.0, cached_input_per_mtok=1.25)
    priced = pricing_for(
        deployment(
            "gpt-4o",
            input_cost_per_mtok=0.0,
            output_cost_per_mtok=2.0,
            cached_input_cost_per_mtok=0.1,
        )
    )
    assert priced == Pricing(input_per_mtok=0.0, output_per_mtok=2.0, cached_input_per_mtok=0.1)


def test_unknown_model_costs_nothing_unless_priced_in_config() -> None:
    assert pricing_for(deployment("my-finetune")) == Pricing()
    assert pricing_for(deployment("my-finetune")).cost(1000, 1000) == 0.0
    priced = pricing_for(deployment("my-finetune", input_cost_per_mtok=1, output_cost_per_mtok=2))
    assert priced.cost(1_000_000, 1_000_000) == pytest.approx(3.0)


def test_capabilities_come_from_the_catalog_with_a_context_window_override() -> None:
    assert capabilities_for(deployment("gpt-4.1")).context_window == 1_047_576
    limited = capabilities_for(deployment("gpt-4.1", context_window=32_000))
    assert limited.context_window == 32_000
    assert limited.max_output_tokens == MODELS["gpt-4.1"].capabilities.max_output_tokens


def test_unknown_model_gets_default_capabilities() -> None:
    assert capabilities_for(deployment("my-finetune")) == Capabilities()
    assert capabilities_for(deployment("my-finetune", context_window=8192)) == Capabilities(
        context_window=8192
    )
