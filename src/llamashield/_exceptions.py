"""Every error llamashield raises, in one tree.

::

    LlamaShieldError                  base class: ``except LlamaShieldError`` catches them all
    ├── UnsafeContentError            content judged unsafe; ``.verdict`` and ``.stage`` say why
    │                                 (stage: input, output, tool_args, tool_result, document)
    ├── GuardUnavailableError         the backend failed (error, timeout, 4xx/5xx) under
    │                                 ``on_error="raise"``; ``.status_code`` when HTTP said so
    ├── BackendError                  one failed backend call (``llamashield.backends``): what
    │                                 backends raise and the guard turns into a verdict or a
    │                                 ``GuardUnavailableError``; ``.kind``, ``.retryable``
    ├── VerdictParseError             the model's answer could not be read (``on_error="raise"``)
    └── ConfigurationError            a setting is missing or wrong; the message says what to do

Anything else escaping llamashield is a bug. Bad input (a wrong type, an empty conversation)
raises ``TypeError`` or ``ValueError`` at the call site, before any I/O.

Messages never contain the API key: backends build them from status codes and server text, and
``redact`` scrubs any secret a caller registered before a message leaves the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llamashield._blocked import Stage, StageName, stage_name

if TYPE_CHECKING:
    from llamashield._verdict import Verdict

__all__ = [
    "ConfigurationError",
    "GuardUnavailableError",
    "LlamaShieldError",
    "UnsafeContentError",
    "VerdictParseError",
]


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
        # Names of earlier releases ("tool_input"...) map to the current ones.
        self.stage: StageName = stage_name(stage)
        names = ", ".join(f"{c.code} {c.name}" for c in verdict.categories) or "no category"
        reason = f" ({verdict.error})" if verdict.error else ""
        super().__init__(f"unsafe {self.stage} blocked by Llama Guard: {names}{reason}")


class GuardUnavailableError(LlamaShieldError):
    """The guard backend could not give a verdict (raised only under ``on_error="raise"``)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class VerdictParseError(LlamaShieldError):
    """The model answered something that is not a Llama Guard verdict."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        self.raw = raw
        super().__init__(message)


class ConfigurationError(LlamaShieldError):
    """A setting is missing or invalid; the message says how to fix it."""


# What ``check``, ``eval`` and ``serve`` say, in one line, when no backend is configured: the
# offline simulator is never a silent stand-in for a missing key.
NO_BACKEND = (
    "no guard backend configured: set TOGETHER_API_KEY (Together), or pass --backend openai "
    "--base-url URL --model ID (vLLM, Ollama, llama.cpp, TGI), --backend transformers --model "
    "PATH (local), or --backend simulated (keyword rules for demos, not a safety tool)"
)
