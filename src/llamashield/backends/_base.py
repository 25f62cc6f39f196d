"""What every backend implements, and the request/answer types the guard hands it.

A backend does I/O only: it turns a ``GuardRequest`` into the model's text (and a score where
the model exposes probabilities). Parsing, policy, retries, deadlines and caching live in the
guard, written once for sync and async.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from llamashield._conversation import Conversation, Role, Turn
from llamashield._exceptions import BackendError, ConfigurationError, FailureKind
from llamashield._prompts import build_prompt, completion_prompt
from llamashield._taxonomy import Taxonomy

__all__ = [
    "Backend",
    "BackendAnswer",
    "BackendError",
    "BackendFailure",
    "BaseBackend",
    "Capabilities",
    "GuardRequest",
    "backend_or_error",
    "warm_async_http",
]


@dataclass(frozen=True)
class GuardRequest:
    """One conversation to judge, with the taxonomy its prompt lists."""

    conversation: Conversation
    taxonomy: Taxonomy
    # The guard's score threshold: a local model decodes the category line from this score
    # (``TransformersBackend(decode_threshold=None)`` follows it; None means 0.5).
    threshold: float | None = None

    @property
    def role(self) -> Role:
        return self.conversation[-1].role

    @cached_property
    def prompt(self) -> str:
        """Meta's full prompt text (Llama Guard 3/4: starting with ``<|begin_of_text|>``)."""
        if any(t.images for t in self.conversation):
            # A raw prompt is text: sending it would judge the text and drop the images.
            raise BackendError(
                "a raw Llama Guard prompt cannot carry images; judge them through a chat "
                "backend serving Llama Guard 4",
                kind="rejected",
            )
        return build_prompt(self.conversation, self.taxonomy)

    @cached_property
    def completion_prompt(self) -> str:
        """What a raw completion sends: ``prompt`` without its BOS text (the server adds one)."""
        return completion_prompt(self.prompt)

    def chat_messages(self) -> list[dict[str, Any]]:
        """The turns as OpenAI-style messages, for servers that apply the template themselves.

        A turn with images becomes content parts: its text, then one ``image_url`` part per
        image (Llama Guard 4's template places a turn's images before its text either way).
        """
        return [
            {"role": "user" if t.role == "user" else "assistant", "content": _chat_content(t)}
            for t in self.conversation
        ]


def _chat_content(turn: Turn) -> str | list[dict[str, Any]]:
    if not turn.images:
        return turn.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn.content}] if turn.content else []
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in turn.images]
    return parts


async def warm_async_http() -> None:
    """Load what httpx's async transport imports on its first request (anyio's asyncio
    backend, httpcore's network backend: about 50 ms), for backends built on httpx."""
    import importlib

    try:
        importlib.import_module("httpcore._backends.anyio")
        anyio = importlib.import_module("anyio")
    except ImportError:  # another transport: nothing of this to load
        return
    anyio.Event().set()  # picks and loads the running loop's backend


@dataclass(frozen=True, slots=True)
class BackendAnswer:
    """What the model said: its text, P(unsafe) where the backend reads one, the model's id.

    ``problem`` says why part of an answer that has text could not be read (its logprobs or
    score): the score is then dropped, and the text still decides where it says ``unsafe``
    (anything else is left to the error policy). A malformed score never softens the model's
    word.
    """

    text: str
    score: float | None = None
    model: str = ""
    # Token usage where the server reports it (OpenAI-shaped ``usage``); traced as gen_ai.usage.*.
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Why the score or logprobs could not be read (they are dropped; the text still decides).
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class BackendFailure:
    """A failed backend call, as a value: what the guard's retries, circuit breaker, policy and
    telemetry read (a backend raises ``BackendError``; the guard keeps this instead).

    ``kind`` says why (``"malformed"`` answers raise ``VerdictParseError`` under
    ``on_error="raise"``, every other kind ``GuardUnavailableError``); ``retryable`` failures
    are retried within the guard's deadline, after ``retry_after`` seconds where the server
    named them.
    """

    message: str
    kind: FailureKind = "error"
    retryable: bool = False
    status_code: int | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, error: BackendError) -> BackendFailure:
        """The value a raised ``BackendError`` describes."""
        return cls(error.message, error.kind, error.retryable, error.status_code, error.retry_after)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do, declared once as a value: the guard refuses at construction the
    settings a backend can never apply (with the fix), and keys its verdict cache on what
    changes an answer.

    ``None`` means "not declared": nothing is refused on its account.

    Example::

        class MyBackend(BaseBackend):
            capabilities = Capabilities(gives_scores=True, sends_prompt=True)
    """

    # Answers carry ``score``: ``LlamaGuard(threshold=...)`` needs it.
    gives_scores: bool | None = None
    # llamashield's prompt reaches the model: custom categories and exclude_from_prompt need it.
    sends_prompt: bool | None = None
    # Llama Guard 4 images go out with the text: ``media="judge"`` needs it (undeclared: no).
    supports_images: bool = False
    # How to get scores, quoted in the error a threshold without them raises.
    score_hint: str = "a backend that returns logprobs"
    # How to get images read, quoted where images cannot be judged.
    image_hint: str = "TogetherBackend or OpenAICompatibleBackend(mode='chat')"
    # ``gen_ai.provider.name`` on spans; None: named after the backend's class.
    provider: str | None = None
    # JSON values (a custom one counts by its repr): the settings that change what the model is
    # sent or how its answer reads, so that a verdict cache never mixes two of them.
    cache_settings: tuple[object, ...] = ()


@runtime_checkable
class Backend(Protocol):
    """The backend protocol: a model name, a default taxonomy, what it can do, sync/async
    completion, warm-up and release. Subclass ``BaseBackend`` to get everything but
    ``complete``/``acomplete`` (nothing declared, nothing to warm or close).

    ``timeout`` is the time left in the guard's deadline for this attempt, in seconds. A
    failed call raises ``BackendError``.
    """

    model: str
    taxonomy: Taxonomy

    @property
    def capabilities(self) -> Capabilities: ...

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer: ...

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer: ...

    def warm_up(self) -> None:
        """Do the first call's one-time work now (SDK imports, clients); send nothing."""

    async def awarm_up(self) -> None:
        """``warm_up`` for the running loop's async clients."""

    def close(self) -> None:
        """Release what the backend holds (sync clients, worker threads)."""

    async def aclose(self) -> None:
        """Release everything, the running loop's async clients included."""


_MEMBERS = ("model", "taxonomy", "capabilities", "complete", "acomplete", "warm_up", "awarm_up",
            "close", "aclose")  # fmt: skip


def backend_or_error(backend: object) -> Backend:
    """``backend`` when it implements the whole protocol, else a ``ConfigurationError`` that
    names what it lacks and how to add it (the guard reads capabilities typed, never guesses)."""
    if isinstance(backend, Backend):
        return backend
    missing = [name for name in _MEMBERS if not hasattr(backend, name)]
    raise ConfigurationError(
        f"backend {type(backend).__name__} does not implement the Backend protocol: it lacks "
        f"{', '.join(missing)}. Subclass llamashield.backends.BaseBackend (it declares "
        "capabilities = Capabilities() and has nothing to warm up or close) and write "
        "model, taxonomy, complete() and acomplete(); declare what the backend can do with "
        "capabilities = Capabilities(gives_scores=..., sends_prompt=..., supports_images=...)"
    )


_UNDECLARED = Capabilities()


class BaseBackend:
    """What every backend shares: no declared capabilities, nothing to warm up, ``close()``/
    ``aclose()`` and (async) context managers.

    Subclasses set ``model`` and ``taxonomy``, write ``complete``/``acomplete``, declare
    ``capabilities``, and release their resources in ``_release`` (sync clients, worker
    threads) and ``_arelease`` (async clients, on the loop that made them). A closed backend
    answers every call with a ``BackendError`` of kind ``"closed"`` (the guard's error policy
    decides: by default the content is blocked), never with a verdict.

    Example::

        async with OpenAICompatibleBackend(base_url=url, model=name) as backend:
            guard = LlamaGuard(backend)
            await guard.acheck("hi")
        # its HTTP clients, sync and async, are closed here
    """

    @property
    def capabilities(self) -> Capabilities:
        """Nothing declared: every setting is allowed, images are not sent. Subclasses
        override it (a class attribute, or a property where settings decide)."""
        return _UNDECLARED

    _closed: bool = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release what the backend holds. Async clients of a loop are closed by ``aclose``."""
        if not self._closed:
            self._closed = True
            self._release()

    async def aclose(self) -> None:
        """Release everything, the running loop's async clients included."""
        if not self._closed:
            self._closed = True
            self._release()
            await self._arelease()

    def warm_up(self) -> None:
        """Nothing to load by default."""

    async def awarm_up(self) -> None:
        """Nothing to make on this loop by default."""

    def _release(self) -> None:
        return None

    async def _arelease(self) -> None:
        return None

    @staticmethod
    async def _aclose_on_running_loop(
        clients: list[tuple[asyncio.AbstractEventLoop, Any]],
    ) -> None:
        """Close the async clients made on the running loop; those of other loops cannot be
        awaited here (a loop's clients go with it) and are dropped."""
        loop = asyncio.get_running_loop()
        for owner, client in clients:
            if owner is loop:
                await client.aclose() if hasattr(client, "aclose") else await client.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise BackendError(f"{type(self).__name__} is closed", kind="closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
