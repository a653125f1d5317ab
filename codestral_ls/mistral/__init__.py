"""Mistral / Codestral HTTP API: request bodies, async client and errors."""

from .client import USER_AGENT, Completion, MistralClient, normalize_endpoint
from .errors import (
    AuthenticationError,
    BadRequestError,
    MistralError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UpstreamTimeout,
    describe_error_body,
    error_from_response,
    parse_retry_after,
)
from .requests import ChatMessage, ChatRequest, EmbeddingRequest, FimRequest

__all__ = [
    "USER_AGENT",
    "AuthenticationError",
    "BadRequestError",
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "EmbeddingRequest",
    "FimRequest",
    "MistralClient",
    "MistralError",
    "NetworkError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "UpstreamTimeout",
    "describe_error_body",
    "error_from_response",
    "normalize_endpoint",
    "parse_retry_after",
]
