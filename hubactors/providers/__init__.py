"""Providers: the wire codecs (``codecs/<format>/``, pure), the HTTP transport and SSE parser
they share, the simulated provider, the model catalog, and the registry that builds the
client of a deployment from its config."""

from hubactors.providers._base import Pricing, Provider
from hubactors.providers._pool import ClientPool
from hubactors.providers._registry import create_provider

__all__ = ["ClientPool", "Pricing", "Provider", "create_provider"]
