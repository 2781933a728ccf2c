"""The common model: msgspec Structs for requests, responses and stream events, OpenAI-shaped
conversion and validation, stream accumulation and token estimates. Pure: no I/O."""
