"""Google Gemini (Generative Language API; Vertex AI responses decode too)."""

from hubactors.providers.codecs.gemini._codec import (
    CODEC,
    SIGNATURE_PLACEHOLDER,
    GeminiCodec,
    GeminiStreamDecoder,
)

__all__ = ["CODEC", "SIGNATURE_PLACEHOLDER", "GeminiCodec", "GeminiStreamDecoder"]
