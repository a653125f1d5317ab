"""Request bodies for the Mistral API.

The request schemas (``FIMCompletionRequest``, ``ChatCompletionRequest``, ``EmbeddingRequest``)
have ``additionalProperties: false`` and the API answers 422 to any unknown field, so
``to_body()`` emits only fields named in the official OpenAPI spec and leaves out ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from codestral_ls.snippets import ContextFile, multifile_prompt

__all__ = ["ChatMessage", "ChatRequest", "EmbeddingRequest", "FimRequest"]

Role = Literal["system", "user", "assistant"]


def _as_str_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


@dataclass(frozen=True)
class FimRequest:
    """``POST /v1/fim/completions``: fill in the middle between ``prompt`` and ``suffix``."""

    model: str
    prompt: str
    suffix: str | None = None
    max_tokens: int | None = None
    min_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    random_seed: int | None = None
    stream: bool = False
    #: Snippets of other files. Not a field of the API: :meth:`to_body` lays them out in front
    #: of ``prompt`` (:func:`~codestral_ls.snippets.multifile_prompt`); a backend with a native
    #: field for them (llama.cpp's ``input_extra``) sends ``prompt`` bare and these beside it.
    context_files: tuple[ContextFile, ...] = ()
    #: The current file's workspace-relative path, the header of the prefix in that layout.
    path: str | None = None

    def __post_init__(self) -> None:
        # Accept a single string or a list for ``stop`` but store a tuple (hashable, frozen).
        object.__setattr__(self, "stop", _as_str_tuple(self.stop))
        object.__setattr__(self, "context_files", tuple(self.context_files))

    def full_prompt(self) -> str:
        """``prompt`` with the context files laid out in front of it (or ``prompt`` alone)."""
        return multifile_prompt(self.context_files, self.path, self.prompt)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.full_prompt()}
        _put(body, "suffix", self.suffix)
        _put(body, "max_tokens", self.max_tokens)
        _put(body, "min_tokens", self.min_tokens)
        _put(body, "temperature", self.temperature)
        _put(body, "top_p", self.top_p)
        if self.stop:
            body["stop"] = list(self.stop)
        _put(body, "random_seed", self.random_seed)
        body["stream"] = bool(self.stream)
        return body


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat conversation (plain-text content only)."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    """``POST /v1/chat/completions``."""

    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    random_seed: int | None = None
    stream: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "stop", _as_str_tuple(self.stop))

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [message.to_dict() for message in self.messages],
        }
        _put(body, "max_tokens", self.max_tokens)
        _put(body, "temperature", self.temperature)
        _put(body, "top_p", self.top_p)
        if self.stop:
            body["stop"] = list(self.stop)
        _put(body, "random_seed", self.random_seed)
        body["stream"] = bool(self.stream)
        return body


@dataclass(frozen=True)
class EmbeddingRequest:
    """``POST /v1/embeddings``; the spec calls the texts ``input``."""

    model: str
    inputs: tuple[str, ...]
    #: Length of the vectors wanted (codestral-embed accepts it; None: the model's default).
    output_dimension: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _as_str_tuple(self.inputs))

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": list(self.inputs)}
        _put(body, "output_dimension", self.output_dimension)
        return body
