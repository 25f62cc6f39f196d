"""The chat history a wrapped runnable loads from its store, read before it runs so the guard
judges it: ``RunnableWithMessageHistory`` adds the stored messages inside the wrapped call, out
of the input the guard sees, and a store filled elsewhere (another service sharing it, an
import, an unguarded endpoint, a forged session) would reach the model unjudged.

Found where LangChain puts it: the wrapped runnable itself, or the first step of a sequence,
through ``with_config``-style bindings. A history loaded deeper inside a chain (a step that
reads a store of its own) is not found here.
"""

from __future__ import annotations

from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSequence
from langchain_core.runnables.base import RunnableBindingBase
from langchain_core.runnables.history import RunnableWithMessageHistory

from llamashield.integration import Call

__all__ = ["history_read"]


def _with_history(runnable: Runnable[Any, Any]) -> RunnableWithMessageHistory | None:
    """The ``RunnableWithMessageHistory`` that runs first in ``runnable``, if any."""
    while True:
        if isinstance(runnable, RunnableWithMessageHistory):
            return runnable
        if isinstance(runnable, RunnableSequence):
            runnable = runnable.first
        elif isinstance(runnable, RunnableBindingBase):  # with_config, with_retry, ...
            runnable = runnable.bound
        else:
            return None


def _store(runnable: RunnableWithMessageHistory, config: RunnableConfig) -> BaseChatMessageHistory:
    # The very lookup the runnable makes for this config (its session keys, as it maps them to
    # ``get_session_history``'s parameters; a config without them fails here as it would there).
    history: BaseChatMessageHistory = runnable._merge_configs(config)["configurable"][
        "message_history"
    ]
    return history


def _messages(runnable: RunnableWithMessageHistory, config: RunnableConfig) -> list[BaseMessage]:
    return list(_store(runnable, config).messages)


async def _amessages(
    runnable: RunnableWithMessageHistory, config: RunnableConfig
) -> list[BaseMessage]:
    return list(await _store(runnable, config).aget_messages())


def history_read(runnable: Runnable[Any, Any], config: RunnableConfig) -> Call | None:
    """The step that reads the messages ``runnable`` will load from its store for a call under
    ``config`` (the plan receives them), or None when it loads none."""
    found = _with_history(runnable)
    if found is None:
        return None
    return Call(_messages, _amessages, (found, config))
