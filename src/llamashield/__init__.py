"""llamashield: Llama Guard shields for LangChain and LlamaIndex pipelines.

Example::

    from llamashield import LlamaGuard
    guard = LlamaGuard()                         # Together, meta-llama/LlamaGuard-2-8b
    verdict = guard.check("How do I make a bomb?")
    verdict.safe, verdict.categories
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamashield._blocked import (
        DEFAULT_REFUSAL,
        Blocked,
        OnUnsafe,
        Stage,
        format_refusal,
        verdict_metadata,
    )
    from llamashield._circuit import CircuitBreaker
    from llamashield._conversation import Turn
    from llamashield._exceptions import (
        BackendError,
        ConfigurationError,
        GuardUnavailableError,
        LlamaShieldError,
        UnsafeContentError,
        VerdictParseError,
    )
    from llamashield._guard import LlamaGuard
    from llamashield._prompts import build_prompt
    from llamashield._redis_cache import RedisVerdictCache
    from llamashield._taxonomy import (
        LLAMA_GUARD_1,
        LLAMA_GUARD_2,
        LLAMA_GUARD_3,
        LLAMA_GUARD_3_1B,
        LLAMA_GUARD_4,
        Category,
        Taxonomy,
        taxonomy_for_model,
    )
    from llamashield._verdict import Verdict

    __version__: str

# Names resolve on first use (PEP 562): `import llamashield` stays cheap, and pydantic, asyncio
# and the SDKs load only when a guard is built.
_EXPORTS = {
    "DEFAULT_REFUSAL": "llamashield._blocked",
    "Blocked": "llamashield._blocked",
    "OnUnsafe": "llamashield._blocked",
    "Stage": "llamashield._blocked",
    "format_refusal": "llamashield._blocked",
    "verdict_metadata": "llamashield._blocked",
    "CircuitBreaker": "llamashield._circuit",
    "BackendError": "llamashield._exceptions",
    "Turn": "llamashield._conversation",
    "ConfigurationError": "llamashield._exceptions",
    "GuardUnavailableError": "llamashield._exceptions",
    "LlamaShieldError": "llamashield._exceptions",
    "UnsafeContentError": "llamashield._exceptions",
    "VerdictParseError": "llamashield._exceptions",
    "LlamaGuard": "llamashield._guard",
    "build_prompt": "llamashield._prompts",
    "RedisVerdictCache": "llamashield._redis_cache",
    "LLAMA_GUARD_1": "llamashield._taxonomy",
    "LLAMA_GUARD_2": "llamashield._taxonomy",
    "LLAMA_GUARD_3": "llamashield._taxonomy",
    "LLAMA_GUARD_3_1B": "llamashield._taxonomy",
    "LLAMA_GUARD_4": "llamashield._taxonomy",
    "Category": "llamashield._taxonomy",
    "Taxonomy": "llamashield._taxonomy",
    "taxonomy_for_model": "llamashield._taxonomy",
    "Verdict": "llamashield._verdict",
}


__all__ = [
    "DEFAULT_REFUSAL",
    "LLAMA_GUARD_1",
    "LLAMA_GUARD_2",
    "LLAMA_GUARD_3",
    "LLAMA_GUARD_3_1B",
    "LLAMA_GUARD_4",
    "BackendError",
    "Blocked",
    "Category",
    "CircuitBreaker",
    "ConfigurationError",
    "GuardUnavailableError",
    "LlamaGuard",
    "LlamaShieldError",
    "OnUnsafe",
    "RedisVerdictCache",
    "Stage",
    "Taxonomy",
    "Turn",
    "UnsafeContentError",
    "Verdict",
    "VerdictParseError",
    "__version__",
    "build_prompt",
    "format_refusal",
    "taxonomy_for_model",
    "verdict_metadata",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = _installed_version()
        return globals()[name]
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llamashield' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _publish(namespace: dict[str, Any]) -> None:
    """Called once at the end of each private module that defines names of ``__all__``: they
    report ``llamashield`` as their module (see ``_public``). Here, not at import of the
    package, so that ``import llamashield`` stays cheap."""
    from llamashield._public import relabel

    module = namespace["__name__"]
    relabel(__name__, [name for name, home in _EXPORTS.items() if home == module], namespace)


def __dir__() -> list[str]:
    return sorted(__all__)


def _installed_version() -> str:
    """The version written once, in pyproject.toml, as the installed package's metadata says."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llamashield")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"
