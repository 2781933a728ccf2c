"""Which codec speaks for which provider, and building an ``HttpProvider`` from config.

Codec modules are imported on first use, so a provider whose module is missing or broken
fails alone (with a ``ConfigError``) instead of breaking every other one.
"""

from __future__ import annotations

import importlib
import os

from hubactors.config import DeploymentConfig
from hubactors.errors import ConfigError
from hubactors.providers._base import Pricing, Provider
from hubactors.providers._catalog import pricing_for
from hubactors.providers._pool import ClientPool
from hubactors.providers._transport import HeadersCallback, HttpProvider
from hubactors.providers.codecs._common import Codec, Endpoint, Secret
from hubactors.providers.simulated import PROVIDER as SIMULATED
from hubactors.providers.simulated import SimulatedProvider

# provider -> (module, attribute) of its codec instance
_CODECS: dict[str, tuple[str, str]] = {
    "openai": ("hubactors.providers.codecs.openai", "OPENAI"),
    "azure": ("hubactors.providers.codecs.openai", "AZURE"),
    "openai-compatible": ("hubactors.providers.codecs.openai", "COMPATIBLE"),
    "anthropic": ("hubactors.providers.codecs.anthropic", "CODEC"),
    "gemini": ("hubactors.providers.codecs.gemini", "CODEC"),
}

DEFAULT_API_KEY_ENVS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
"""The variable read when a deployment names no ``api_key_env`` (as the official SDKs do).
OpenAI-compatible hosts have none: without ``api_key_env`` they are called without a key."""


def provider_names() -> list[str]:
    """Every provider a deployment may name: those served over HTTP, and the simulated one."""
    return [*_CODECS, SIMULATED]


def http_providers() -> list[str]:
    """The provider names served over HTTP by a codec."""
    return list(_CODECS)


def codec_for(provider: str) -> Codec:
    """The codec for ``provider``; ``ConfigError`` if unknown or its module cannot be loaded."""
    try:
        module_name, attribute = _CODECS[provider]
    except KeyError:
        known = ", ".join(sorted(_CODECS))
        raise ConfigError(
            f"no HTTP codec for provider {provider!r} (known: {known})", key="provider"
        ) from None
    try:
        module = importlib.import_module(module_name)
        codec: Codec = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"provider {provider!r} is not available: {type(exc).__name__}: {exc}", key="provider"
        ) from None
    return codec


def _api_key(deployment: DeploymentConfig) -> Secret | None:
    variable = deployment.api_key_env or DEFAULT_API_KEY_ENVS.get(deployment.provider)
    if variable is None:
        return None
    value = os.environ.get(variable, "")
    if not value:
        # Name the variable, never a value.
        raise ConfigError(
            f"deployment {deployment.name!r}: environment variable {variable} is not set",
            key="api_key_env",
        )
    return Secret(value)


def endpoint_for(deployment: DeploymentConfig) -> Endpoint:
    """The endpoint of ``deployment``, its API key read from the environment.

    Without ``base_url`` the provider's default is used
    (:data:`~hubactors.providers.codecs._common.DEFAULT_BASE_URLS`); a provider without one
    (Azure, compatible hosts) raises ``ConfigError``, as does an unset key variable.
    """
    return Endpoint(
        provider=deployment.provider,
        model=deployment.model,
        base_url=deployment.base_url or "",
        api_key=_api_key(deployment),
        api_version=deployment.api_version,
        headers=dict(deployment.headers),
        extra_body=dict(deployment.extra_body),
        deployment=deployment.name,
    )


def create_http_provider(
    deployment: DeploymentConfig,
    pool: ClientPool,
    *,
    pricing: Pricing | None = None,
    on_headers: HeadersCallback | None = None,
) -> HttpProvider:
    """An ``HttpProvider`` for ``deployment`` on the shared ``pool``.

    Raises ``ConfigError`` for an unknown or unavailable provider, a missing ``base_url``
    or an API key variable that is not set (the message names the variable only).
    """
    codec = codec_for(deployment.provider)
    return HttpProvider(
        codec,
        endpoint_for(deployment),
        pool,
        timeouts=deployment.timeouts,
        pricing=pricing,
        http2=deployment.http2,
        transport=deployment.transport,
        on_headers=on_headers,
    )


def create_provider(
    deployment: DeploymentConfig,
    pool: ClientPool,
    *,
    on_headers: HeadersCallback | None = None,
) -> Provider:
    """The client of ``deployment``: the simulated provider, or an ``HttpProvider`` with
    the codec registered for its provider and the catalog's prices.

    Raises ``ConfigError`` as :func:`create_http_provider` does.
    """
    if deployment.provider == SIMULATED:
        return SimulatedProvider(deployment)
    return create_http_provider(
        deployment, pool, pricing=pricing_for(deployment), on_headers=on_headers
    )
