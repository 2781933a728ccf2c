"""hubactors: a resilient actor-model runtime on Trio that connects applications to LLM providers.

Start a hub with :func:`open_hub` and send it requests::

    async with hubactors.open_hub("hub.toml") as hub:
        response = await hub.complete({"model": "chat", "messages": [...]})
        async with hub.stream(request) as events:
            async for event in events: ...
"""

from hubactors._accumulate import StreamAccumulator
from hubactors._convert import coerce_request, messages_from_openai, request_from_openai
from hubactors._driver import EventStream
from hubactors._hub import Hub, open_hub
from hubactors._types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    ErrorEvent,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    NamedToolChoice,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallComplete,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from hubactors.config import (
    DeploymentConfig,
    HubConfig,
    HubConfigBuilder,
    RouteConfig,
    config_from_dict,
    load_config,
)
from hubactors.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    CircuitOpenError,
    ConfigError,
    ContentFilterError,
    ContextLengthError,
    DeploymentCrashedError,
    HubClosedError,
    HubError,
    InvalidRequestError,
    NoDeploymentAvailable,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)

__version__ = "0.1.0"

__all__ = [
    "AttemptTimeoutError",
    "AuthenticationError",
    "ChatRequest",
    "ChatResponse",
    "CircuitOpenError",
    "ConfigError",
    "ContentFilterError",
    "ContentPart",
    "ContextLengthError",
    "DeploymentConfig",
    "DeploymentCrashedError",
    "ErrorEvent",
    "EventStream",
    "Finish",
    "FinishReason",
    "Hub",
    "HubClosedError",
    "HubConfig",
    "HubConfigBuilder",
    "HubError",
    "ImagePart",
    "InvalidRequestError",
    "Message",
    "NamedToolChoice",
    "NoDeploymentAvailable",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "ReasoningDelta",
    "ResponseFormat",
    "RouteConfig",
    "ServerError",
    "StreamAccumulator",
    "StreamEvent",
    "StreamInterruptedError",
    "StreamStart",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallComplete",
    "ToolCallDelta",
    "ToolCallPart",
    "ToolResultPart",
    "Usage",
    "UsageEvent",
    "__version__",
    "coerce_request",
    "config_from_dict",
    "load_config",
    "messages_from_openai",
    "open_hub",
    "request_from_openai",
]
