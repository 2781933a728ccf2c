"""Anthropic Messages API."""

from hubactors.providers.codecs.anthropic._codec import (
    CODEC,
    DEFAULT_MAX_TOKENS,
    AnthropicCodec,
    AnthropicStreamDecoder,
)

__all__ = ["CODEC", "DEFAULT_MAX_TOKENS", "AnthropicCodec", "AnthropicStreamDecoder"]
