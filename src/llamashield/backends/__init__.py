"""Where Llama Guard runs: Together, Ollama, an OpenAI-compatible server, transformers, or
simulated.

Backends import their optional dependencies on first use, so ``import llamashield.backends``
stays cheap and a missing extra fails only for the backend that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamashield._exceptions import FailureKind
from llamashield._public import relabel
from llamashield.backends._base import (
    Backend,
    BackendAnswer,
    BackendError,
    BackendFailure,
    BaseBackend,
    Capabilities,
    GuardRequest,
)

if TYPE_CHECKING:
    from llamashield.backends.ollama import OllamaBackend
    from llamashield.backends.openai_compatible import OpenAICompatibleBackend
    from llamashield.backends.simulated import SimulatedBackend
    from llamashield.backends.together import TogetherBackend
    from llamashield.backends.transformers import TransformersBackend

__all__ = [
    "Backend",
    "BackendAnswer",
    "BackendError",
    "BackendFailure",
    "BaseBackend",
    "Capabilities",
    "FailureKind",
    "GuardRequest",
    "OllamaBackend",
    "OpenAICompatibleBackend",
    "SimulatedBackend",
    "TogetherBackend",
    "TransformersBackend",
]

relabel(__name__, __all__, globals())  # ``llamashield.backends.BackendAnswer`` in reprs

_LAZY = {
    "OllamaBackend": "llamashield.backends.ollama",
    "OpenAICompatibleBackend": "llamashield.backends.openai_compatible",
    "SimulatedBackend": "llamashield.backends.simulated",
    "TogetherBackend": "llamashield.backends.together",
    "TransformersBackend": "llamashield.backends.transformers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llamashield.backends' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
