"""The hub: ``open_hub`` and its supervision tree, the request driver, hedging and streams."""

from hubactors.hub._event_stream import EventStream
from hubactors.hub._hub import Hub, open_hub

__all__ = ["EventStream", "Hub", "open_hub"]
