"""State shared by hub processes through Redis: the connection layer, and what uses it."""

from hubactors.shared._redis import FALLBACK, Fallback, SharedRedis, SharedScript, display_url

__all__ = ["FALLBACK", "Fallback", "SharedRedis", "SharedScript", "display_url"]
