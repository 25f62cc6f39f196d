"""Every error llamashield raises, in one tree, defined in this one module.

::

    LlamaShieldError                  base class: ``except LlamaShieldError`` catches them all
    ├── UnsafeContentError            content judged unsafe; ``.verdict`` and ``.stage`` say why
    │                                 (stage: input, output, tool_args, tool_result, document)
    ├── GuardUnavailableError         the backend failed (error, timeout, 4xx/5xx) under
    │                                 ``on_error="raise"``; ``.status_code`` when HTTP said so
    ├── BackendError                  one failed backend call (``llamashield.backends``): what
    │                                 backends raise and the guard turns into a verdict or a
    │                                 ``GuardUnavailableError``; ``.kind`` (a ``FailureKind``),
    │                                 ``.retryable``, ``.status_code``, ``.retry_after``
    ├── VerdictParseError             the model's answer could not be read (``on_error="raise"``)
    ├── ConfigurationError            a setting is missing or wrong (every bad ``LlamaGuard(...)``
    │                                 setting); the message says what to do.  Also a ValueError
    ├── UnjudgeableContent            content with neither text nor a JSON form (or too deep,
    │                                 too large, cyclic); the error policy decides.  ValueError
    ├── ImageRejected                 an image the guard cannot send as it is (format, size, a
    │                                 URL it cannot read); the error policy decides.  ValueError
    ├── DatasetError                  ``llamashield.evaluation``: a data set row or file cannot
    │   │                             be read; names the row and what to change.  ValueError
    │   └── SourceError               the file itself (format, encoding, JSON) cannot be read
    └── BatchMismatchError            a resumed batch holds requests these rows and options do
                                      not make.  ValueError

The errors marked ValueError also derive from ``ValueError``, so code that caught the bad value
before there was a tree keeps working. Anything else escaping llamashield is a bug, apart from
bad input to a call (a wrong type, an empty conversation): ``TypeError`` or ``ValueError`` at
the call site, before any I/O.

Messages never contain the API key: backends build them from status codes and server text, and
``redact`` scrubs any secret a caller registered before a message leaves the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

from llamashield import _publish

if TYPE_CHECKING:
    from llamashield._blocked import Stage
    from llamashield._verdict import Verdict

__all__ = [
    "BackendError",
    "BatchMismatchError",
    "ConfigurationError",
    "DatasetError",
    "FailureKind",
    "GuardUnavailableError",
    "ImageRejected",
    "LlamaShieldError",
    "SourceError",
    "UnjudgeableContent",
    "UnsafeContentError",
    "VerdictParseError",
]

FailureKind: TypeAlias = Literal[
    "error",  # a failure of no more precise kind
    "timeout",  # the guard's deadline or the backend's own timeout passed
    "connection",  # the server could not be reached
    "http",  # the server answered an HTTP error: ``status_code`` says which
    "malformed",  # an answer that is not a Llama Guard answer (no text, bad JSON, bad score)
    "rejected",  # the request cannot be sent as it is (images on a raw prompt, an image refused)
    "too_long",  # the prompt is longer than the local model's context
    "closed",  # the backend was closed
    "circuit_open",  # the circuit breaker is open: the backend was not called
    "local_error",  # the local model (transformers) failed
    "internal",  # a request a failed batch left without an answer
]
"""Why a backend call failed: ``BackendError.kind`` and ``BackendFailure.kind``.
``"malformed"`` answers raise a ``VerdictParseError`` under ``on_error="raise"``; every other
kind a ``GuardUnavailableError``."""


class LlamaShieldError(Exception):
    """Base class of every error raised by llamashield."""


class UnsafeContentError(LlamaShieldError):
    """Content was judged unsafe and the pipeline was asked to raise.

    Example::

        try:
            chain.invoke("How do I make a bomb?")
        except UnsafeContentError as exc:
            print(exc.verdict.categories, exc.stage)
    """

    def __init__(self, verdict: Verdict, stage: Stage | str = "input") -> None:
        self.verdict = verdict
        self.stage: str = str(stage)
        names = ", ".join(f"{c.code} {c.name}" for c in verdict.categories) or "no category"
        reason = f" ({verdict.error})" if verdict.error else ""
        super().__init__(f"unsafe {self.stage} blocked by Llama Guard: {names}{reason}")

    def __reduce__(self) -> tuple[type[UnsafeContentError], tuple[Verdict, str]]:
        # Rebuilt from what it was made of (its message is derived from them), so it pickles
        # across processes (multiprocessing, task queues) with its verdict.
        return type(self), (self.verdict, self.stage)


class GuardUnavailableError(LlamaShieldError):
    """The guard backend could not give a verdict (raised only under ``on_error="raise"``)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class BackendError(LlamaShieldError):
    """A failed backend call, described without secrets: what a backend raises.

    The guard turns it into a ``BackendFailure`` value (``llamashield.backends``) at once, so
    its retries, circuit breaker and policy pass failures around as data; users meet this
    exception only where they call a backend themselves.

    ``retryable`` errors (429, 5xx, connection failures, timeouts) are retried by the guard
    within its deadline; ``retry_after`` is the server's Retry-After in seconds, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status_code: int | None = None,
        retry_after: float | None = None,
        kind: FailureKind = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.kind: FailureKind = kind

    def __str__(self) -> str:
        return self.message


class VerdictParseError(LlamaShieldError):
    """The model answered something that is not a Llama Guard verdict."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        self.raw = raw
        super().__init__(message)


class ConfigurationError(LlamaShieldError, ValueError):
    """A setting is missing or invalid; the message says how to fix it."""


# What ``check``, ``eval`` and ``serve`` say, in one line, when no backend is configured: the
# offline simulator is never a silent stand-in for a missing key.
NO_BACKEND = (
    "no guard backend configured: set TOGETHER_API_KEY (Together), or pass --backend openai "
    "--base-url URL --model ID (vLLM, Ollama, llama.cpp, TGI), --backend transformers --model "
    "PATH (local), or --backend simulated (keyword rules for demos, not a safety tool)"
)


class UnjudgeableContent(LlamaShieldError, ValueError):
    """Content with neither text nor a JSON form (or too deep, too large, cyclic).

    The guard does not skip it: its error policy decides (by default, blocked).

    Example::

        try:
            judged_text(object())
        except UnjudgeableContent as exc:
            print(exc)   # names the type
    """


class ImageRejected(LlamaShieldError, ValueError):
    """An image the guard cannot send as it is; the message says why and what to do."""


class DatasetError(LlamaShieldError, ValueError):
    """A data set row or file cannot be read; the message names the row and what to change."""


class SourceError(DatasetError):
    """A file cannot be read as data (the loader re-raises it as a plain ``DatasetError``)."""


class BatchMismatchError(LlamaShieldError, ValueError):
    """The batch holds requests these rows and options do not make (resumed with other data)."""


_publish(globals())  # the public names here report ``llamashield`` as their module
