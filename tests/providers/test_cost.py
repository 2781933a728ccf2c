"""Cost follows each provider's way of counting tokens."""

from __future__ import annotations

import pytest

from hubactors import Usage
from hubactors.providers._base import OPENAI_USAGE, Pricing
from hubactors.providers.codecs.anthropic import CODEC as ANTHROPIC
from hubactors.providers.codecs.gemini import CODEC as GEMINI
from hubactors.providers.codecs.openai import CODEC as OPENAI

PRICES = Pricing(input_per_mtok=3.0, output_per_mtok=15.0, cached_input_per_mtok=0.3)


def test_openai_counts_cached_tokens_inside_the_prompt() -> None:
    usage = Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=100)
    expected = (600 * 3.0 + 400 * 0.3 + 100 * 15.0) / 1e6
    assert PRICES.cost_of(usage, OPENAI.usage_convention) == pytest.approx(expected)
    assert OPENAI.usage_convention == OPENAI_USAGE


def test_anthropic_bills_cache_reads_and_writes_beside_the_input() -> None:
    # As in the recorded cache-read stream: 3 fresh input tokens, 18639 read from cache.
    usage = Usage(
        input_tokens=3, cached_input_tokens=18639, cache_creation_input_tokens=100, output_tokens=10
    )
    expected = (3 * 3.0 + 18639 * 0.3 + 100 * 3.0 * 1.25 + 10 * 15.0) / 1e6
    assert PRICES.cost_of(usage, ANTHROPIC.usage_convention) == pytest.approx(expected)


def test_gemini_bills_thinking_tokens_as_output() -> None:
    usage = Usage(input_tokens=100, output_tokens=50, reasoning_tokens=200)
    expected = (100 * 3.0 + 250 * 15.0) / 1e6
    assert PRICES.cost_of(usage, GEMINI.usage_convention) == pytest.approx(expected)
