"""The model catalog: what well-known models can do and what they cost.

Prices are the providers' published list prices in US dollars per million tokens (standard
tier, short prompts, no batch discount) as of the time of writing. They go stale and
negotiated rates differ, so treat them as defaults: a deployment's
``input_cost_per_mtok``, ``output_cost_per_mtok`` and ``cached_input_cost_per_mtok`` override
them, and ``context_window`` overrides the capabilities. A model the catalog does not know
costs 0 (so cost routing and budgets ignore it until you price it) and gets default
:class:`Capabilities`.
"""

from __future__ import annotations

import msgspec

from hubactors.config import DeploymentConfig
from hubactors.providers._base import Capabilities, Pricing


class ModelInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One catalog entry: the model's base name, its provider family, abilities and prices."""

    name: str
    provider: str
    capabilities: Capabilities
    pricing: Pricing


def _model(
    name: str,
    provider: str,
    prices: tuple[float, float, float | None],
    context: int,
    max_output: int,
    *,
    vision: bool = True,
) -> ModelInfo:
    input_price, output_price, cached_price = prices
    return ModelInfo(
        name=name,
        provider=provider,
        capabilities=Capabilities(
            context_window=context, max_output_tokens=max_output, vision=vision
        ),
        pricing=Pricing(
            input_per_mtok=input_price,
            output_per_mtok=output_price,
            cached_input_per_mtok=cached_price,
        ),
    )


_GEMINI_CONTEXT = 1_048_576
_GPT41_CONTEXT = 1_047_576

# (input, output, cached input) in USD per million tokens; context window; max output.
_MODELS: tuple[ModelInfo, ...] = (
    # OpenAI
    _model("gpt-4o", "openai", (2.50, 10.00, 1.25), 128_000, 16_384),
    _model("gpt-4o-mini", "openai", (0.15, 0.60, 0.075), 128_000, 16_384),
    _model("gpt-4.1", "openai", (2.00, 8.00, 0.50), _GPT41_CONTEXT, 32_768),
    _model("gpt-4.1-mini", "openai", (0.40, 1.60, 0.10), _GPT41_CONTEXT, 32_768),
    _model("gpt-4.1-nano", "openai", (0.10, 0.40, 0.025), _GPT41_CONTEXT, 32_768),
    _model("gpt-5", "openai", (1.25, 10.00, 0.125), 400_000, 128_000),
    _model("gpt-5-mini", "openai", (0.25, 2.00, 0.025), 400_000, 128_000),
    _model("gpt-5-nano", "openai", (0.05, 0.40, 0.005), 400_000, 128_000),
    _model("o3", "openai", (2.00, 8.00, 0.50), 200_000, 100_000),
    _model("o3-mini", "openai", (1.10, 4.40, 0.55), 200_000, 100_000, vision=False),
    _model("o4-mini", "openai", (1.10, 4.40, 0.275), 200_000, 100_000),
    # Anthropic (cached = cache hits; cache writes cost more and are not modelled here)
    _model("claude-opus-4-5", "anthropic", (5.00, 25.00, 0.50), 200_000, 64_000),
    _model("claude-sonnet-4-5", "anthropic", (3.00, 15.00, 0.30), 200_000, 64_000),
    _model("claude-sonnet-4-6", "anthropic", (3.00, 15.00, 0.30), 1_000_000, 64_000),
    _model("claude-haiku-4-5", "anthropic", (1.00, 5.00, 0.10), 200_000, 64_000),
    _model("claude-3-5-haiku", "anthropic", (0.80, 4.00, 0.08), 200_000, 8_192, vision=False),
    # Google Gemini (prices for prompts up to 200k tokens where tiered)
    _model("gemini-2.5-pro", "gemini", (1.25, 10.00, 0.125), _GEMINI_CONTEXT, 65_536),
    _model("gemini-2.5-flash", "gemini", (0.30, 2.50, 0.03), _GEMINI_CONTEXT, 65_536),
    _model("gemini-2.5-flash-lite", "gemini", (0.10, 0.40, 0.01), _GEMINI_CONTEXT, 65_536),
    _model("gemini-3-pro-preview", "gemini", (2.00, 12.00, 0.20), _GEMINI_CONTEXT, 65_536),
    # The embedded simulator: made-up prices shaped like a large, a small and a fast model.
    _model("sim-large", "simulated", (3.00, 15.00, 0.30), 200_000, 32_000),
    _model("sim-small", "simulated", (0.15, 0.60, 0.075), 128_000, 16_384),
    _model("sim-fast", "simulated", (0.10, 0.40, 0.025), 128_000, 8_192),
)

MODELS: dict[str, ModelInfo] = {m.name: m for m in _MODELS}
"""Every catalog entry by base name."""

# Longest first, so "gpt-4o-mini-2024-07-18" finds gpt-4o-mini before gpt-4o.
_BY_LENGTH = sorted(MODELS, key=len, reverse=True)
# What may follow a known name in a variant: a dated snapshot ("-2024-07-18"), a tag
# ("-latest", "-preview-05-20") or a Vertex/Bedrock-style version ("@20250929", ":0").
_SEPARATORS = ("-", "@", ":")


def lookup_model(name: str) -> ModelInfo | None:
    """The catalog entry for ``name``, or ``None`` if the catalog does not know it.

    Tries the exact name, then the longest known name that ``name`` extends with ``-``,
    ``@`` or ``:`` (dated snapshots and tags). Case is ignored, and a path prefix such as
    ``models/`` or ``openai/`` is dropped.
    """
    key = name.strip().lower().rsplit("/", 1)[-1]
    found = MODELS.get(key)
    if found is not None:
        return found
    for known in _BY_LENGTH:
        if key.startswith(known) and key[len(known)] in _SEPARATORS:
            return MODELS[known]
    return None


def pricing_for(deployment: DeploymentConfig) -> Pricing:
    """The deployment's prices: its config overrides over the catalog's (0 if unknown)."""
    info = lookup_model(deployment.model)
    base = info.pricing if info is not None else Pricing()
    return Pricing(
        input_per_mtok=_pick(deployment.input_cost_per_mtok, base.input_per_mtok),
        output_per_mtok=_pick(deployment.output_cost_per_mtok, base.output_per_mtok),
        cached_input_per_mtok=(
            deployment.cached_input_cost_per_mtok
            if deployment.cached_input_cost_per_mtok is not None
            else base.cached_input_per_mtok
        ),
    )


def capabilities_for(deployment: DeploymentConfig) -> Capabilities:
    """The deployment's capabilities: the catalog's, with its ``context_window`` override."""
    info = lookup_model(deployment.model)
    base = info.capabilities if info is not None else Capabilities()
    if deployment.context_window is None:
        return base
    return msgspec.structs.replace(base, context_window=deployment.context_window)


def _pick(override: float | None, default: float) -> float:
    return default if override is None else override
