"""OpenAI Chat Completions, Azure OpenAI and OpenAI-compatible hosts (Ollama, vLLM, Groq, ...)."""

from hubactors.providers.codecs.openai._codec import (
    AZURE,
    CODEC,
    COMPATIBLE,
    OPENAI,
    AzureOpenAICodec,
    ChatCompletionsStreamDecoder,
    OpenAICodec,
    OpenAICompatibleCodec,
)

__all__ = [
    "AZURE",
    "CODEC",
    "COMPATIBLE",
    "OPENAI",
    "AzureOpenAICodec",
    "ChatCompletionsStreamDecoder",
    "OpenAICodec",
    "OpenAICompatibleCodec",
]
