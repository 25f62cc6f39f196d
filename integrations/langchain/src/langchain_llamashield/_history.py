"""The chat history a wrapped runnable loads from its store, read before it runs so the guard
judges it: ``RunnableWithMessageHistory`` adds the stored messages inside the wrapped call, out
of the input the guard sees, and a store filled elsewhere (another service sharing it, an
import, an unguarded endpoint, a forged session) would reach the model unjudged.

Found wherever it sits in the wrapped chain (behind other steps, in a parallel branch, a
fallback, a binding); a step that reads a store of its own (not a ``RunnableWithMessageHistory``)
is not found here.
"""

from __future__ import annotations

from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.history import RunnableWithMessageHistory

from llamashield.integration import Call

__all__ = ["history_read", "stores_of"]


def _with_history(runnable: Runnable[Any, Any]) -> list[RunnableWithMessageHistory]:
    """Every ``RunnableWithMessageHistory`` inside ``runnable``, wherever it sits: behind other
    steps, in a parallel branch, a fallback, a binding (``with_config``, ``with_retry``)."""
    found: list[RunnableWithMessageHistory] = []
    seen: set[int] = set()
    pending: list[Any] = [runnable]
    while pending and len(seen) < _MOST_NODES:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, RunnableWithMessageHistory):
            found.append(node)
            continue  # its store is the one it loads; what it wraps runs under it
        if isinstance(node, Runnable):
            pending.extend(_children(node))
    return found[::-1]


# A chain is a tree of runnables held in their fields (``first``/``middle``/``last``,
# ``steps__``, ``bound``, ``runnable``/``fallbacks``, ``mapper``...): walked field by field, so
# a composition LangChain adds later is walked too. Bounded: a chain is not that large.
_MOST_NODES = 10_000


def _children(node: Runnable[Any, Any]) -> list[Any]:
    children: list[Any] = []
    for value in vars(node).values():
        if isinstance(value, Runnable):
            children.append(value)
        elif isinstance(value, list | tuple):
            children += [item for item in value if isinstance(item, Runnable)]
        elif isinstance(value, dict):
            children += [item for item in value.values() if isinstance(item, Runnable)]
    return children[::-1]


def _store(runnable: RunnableWithMessageHistory, config: RunnableConfig) -> BaseChatMessageHistory:
    # The very lookup the runnable makes for this config (its session keys, as it maps them to
    # ``get_session_history``'s parameters; a config without them fails here as it would there).
    history: BaseChatMessageHistory = runnable._merge_configs(config)["configurable"][
        "message_history"
    ]
    return history


def _messages(
    runnables: list[RunnableWithMessageHistory], config: RunnableConfig
) -> list[BaseMessage]:
    return [message for runnable in runnables for message in _store(runnable, config).messages]


async def _amessages(
    runnables: list[RunnableWithMessageHistory], config: RunnableConfig
) -> list[BaseMessage]:
    return [m for r in runnables for m in await _store(r, config).aget_messages()]


def stores_of(runnable: Runnable[Any, Any]) -> tuple[RunnableWithMessageHistory, ...]:
    """The runnables inside ``runnable`` that load a history from a store (found once, when a
    guard is built: the walk is over the whole chain)."""
    return tuple(_with_history(runnable))


def history_read(
    stores: tuple[RunnableWithMessageHistory, ...], config: RunnableConfig
) -> Call | None:
    """The step that reads the messages ``stores`` will load for a call under ``config`` (the
    plan receives them), or None when there are none."""
    if not stores:
        return None
    return Call(_messages, _amessages, (list(stores), config))
