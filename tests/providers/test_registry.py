"""The registry names every provider once; the config's list of names must agree with it."""

from __future__ import annotations

from typing import get_args

from hubactors.config import ProviderName
from hubactors.providers._registry import http_providers, provider_names


def test_the_config_accepts_exactly_the_providers_the_registry_can_build() -> None:
    assert sorted(get_args(ProviderName)) == sorted(provider_names())
    assert set(http_providers()) == set(provider_names()) - {"simulated"}
