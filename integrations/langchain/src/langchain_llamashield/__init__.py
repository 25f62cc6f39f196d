"""Llama Guard shields for LangChain: runnables, chat models, agents, tools, retrievers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage

from langchain_llamashield._inputs import message_dict
from llamashield.integration import register_message_reader

if TYPE_CHECKING:
    from langchain_llamashield.callbacks import LlamaGuardCallbackHandler
    from langchain_llamashield.chat_models import GuardedChatModel
    from langchain_llamashield.document_filter import LlamaGuardDocumentFilter
    from langchain_llamashield.middleware import LlamaGuardMiddleware
    from langchain_llamashield.runnables import GuardedRunnable, LlamaGuardRunnable, guard_runnable
    from langchain_llamashield.tools import GuardedTool, guard_tool

__all__ = [
    "GuardedChatModel",
    "GuardedRunnable",
    "GuardedTool",
    "LlamaGuardCallbackHandler",
    "LlamaGuardDocumentFilter",
    "LlamaGuardMiddleware",
    "LlamaGuardRunnable",
    "guard_runnable",
    "guard_tool",
]

# Lazy (PEP 562): the agent middleware needs the optional `langchain` package.
_EXPORTS = {
    "GuardedChatModel": "langchain_llamashield.chat_models",
    "GuardedRunnable": "langchain_llamashield.runnables",
    "GuardedTool": "langchain_llamashield.tools",
    "LlamaGuardCallbackHandler": "langchain_llamashield.callbacks",
    "LlamaGuardDocumentFilter": "langchain_llamashield.document_filter",
    "LlamaGuardMiddleware": "langchain_llamashield.middleware",
    "LlamaGuardRunnable": "langchain_llamashield.runnables",
    "guard_runnable": "langchain_llamashield.runnables",
    "guard_tool": "langchain_llamashield.tools",
}


# ``guard.check([HumanMessage(...)])`` works: the core reads LangChain messages through this
# adapter's converter, without knowing LangChain itself.
register_message_reader(BaseMessage, message_dict)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_llamashield' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
