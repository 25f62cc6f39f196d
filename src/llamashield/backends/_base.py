"""What every backend implements, and the request/answer types the guard hands it.

A backend does I/O only: it turns a ``GuardRequest`` into the model's text (and a score where
the model exposes probabilities). Parsing, policy, retries, deadlines and caching live in the
guard, written once for sync and async.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, runtime_checkable

from llamashield._conversation import Conversation, Role
from llamashield._prompts import build_prompt, completion_prompt
from llamashield._taxonomy import Taxonomy

__all__ = [
    "Backend",
    "BackendAnswer",
    "BackendError",
    "GuardRequest",
]


@dataclass(frozen=True)
class GuardRequest:
    """One conversation to judge, with the taxonomy its prompt lists."""

    conversation: Conversation
    taxonomy: Taxonomy

    @property
    def role(self) -> Role:
        return self.conversation[-1].role

    @cached_property
    def prompt(self) -> str:
        """Meta's full prompt text (Llama Guard 3/4: starting with ``<|begin_of_text|>``)."""
        return build_prompt(self.conversation, self.taxonomy)

    @cached_property
    def completion_prompt(self) -> str:
        """What a raw completion sends: ``prompt`` without its BOS text (the server adds one)."""
        return completion_prompt(self.prompt)

    def chat_messages(self) -> list[dict[str, str]]:
        """The turns as OpenAI-style messages, for servers that apply the template themselves."""
        return [
            {"role": "user" if t.role == "user" else "assistant", "content": t.content}
            for t in self.conversation
        ]


@dataclass(frozen=True, slots=True)
class BackendAnswer:
    text: str
    score: float | None = None
    model: str = ""


@dataclass(slots=True)
class BackendError(Exception):
    """A failed backend call, described without secrets.

    ``retryable`` errors (429, 5xx, connection failures, timeouts) are retried by the guard
    within its deadline; ``retry_after`` is the server's Retry-After in seconds, if it sent one.
    """

    message: str
    retryable: bool = False
    status_code: int | None = None
    retry_after: float | None = None
    kind: str = field(default="error")

    def __str__(self) -> str:
        return self.message


@runtime_checkable
class Backend(Protocol):
    """The backend protocol: a model name, a default taxonomy, and sync/async completion.

    ``timeout`` is the time left in the guard's deadline for this attempt, in seconds.
    """

    model: str
    taxonomy: Taxonomy

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer: ...

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer: ...
