"""The adapters' public surface: explicit ``__all__`` lists, every returned class exported."""

from __future__ import annotations

import importlib

import pytest

ADAPTERS = {
    "langchain_llamashield": [
        "GuardedChatModel", "GuardedRunnable", "GuardedTool", "LlamaGuardCallbackHandler",
        "LlamaGuardDocumentFilter", "LlamaGuardMiddleware", "LlamaGuardRunnable",
        "guard_runnable", "guard_tool",
    ],
    "llama_index.llamashield": [
        "AuditRecord", "Blocked", "GuardedAgent", "GuardedChatEngine", "GuardedFunctionTool",
        "GuardedQueryEngine", "GuardedTool", "GuardedWorkflow", "LlamaGuardEventHandler",
        "LlamaGuardNodePostprocessor", "LlamaGuardTransform", "SafeInputEvent", "guard_agent",
        "guard_tool",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_all_is_explicit_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == ADAPTERS[name]
    for attribute in module.__all__:
        assert getattr(module, attribute) is not None, attribute


def test_returned_classes_are_the_exported_ones() -> None:
    import langchain_llamashield as lc
    import llama_index.llamashield as li
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import tool
    from llama_index.core.tools import FunctionTool

    from llamashield import Blocked, LlamaGuard
    from llamashield.backends import SimulatedBackend

    guard = LlamaGuard(SimulatedBackend())

    @tool
    def search(query: str) -> str:
        """Search."""
        return query

    assert isinstance(lc.guard_runnable(RunnableLambda(str), guard), lc.GuardedRunnable)
    assert isinstance(lc.guard_tool(search, guard), lc.GuardedTool)
    assert isinstance(li.guard_tool(FunctionTool.from_defaults(str.upper), guard),
                      li.GuardedFunctionTool)  # fmt: skip
    assert li.Blocked is Blocked  # one payload for both adapters


def test_circuit_breaker_and_backend_error_from_the_core() -> None:
    from llamashield import BackendError, CircuitBreaker, LlamaShieldError
    from llamashield.backends import BackendError as FromBackends

    assert BackendError is FromBackends and issubclass(BackendError, LlamaShieldError)
    assert CircuitBreaker().failures >= 1
