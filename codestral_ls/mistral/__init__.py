"""Request types of the Mistral API (FIM, chat, embeddings); every backend maps them to its own
wire format (see :mod:`codestral_ls.backends`)."""

from .requests import ChatMessage, ChatRequest, EmbeddingRequest, FimRequest

__all__ = ["ChatMessage", "ChatRequest", "EmbeddingRequest", "FimRequest"]
