"""Callbacks for a wrapped run whose output is moderated: keep traces, drop every other handler.

A guarded component passes its own (moderated) chunks and judged result to its callbacks. The
wrapped model runs as a child whose output is not judged yet, so its child callbacks keep the
tracers (LangSmith, run collectors: the trace shows what the model really said) but lose
whatever would hand unjudged text to a consumer: the ``astream_events``/``astream_log`` stream
handlers and every other handler (``on_llm_new_token``, ``on_llm_end``, ``on_chain_end``...).
Handlers built into the wrapped runnable itself cannot be filtered: the guards refuse them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManager,
    BaseCallbackHandler,
    BaseCallbackManager,
    CallbackManager,
)
from langchain_core.callbacks.manager import AsyncRunManager, BaseRunManager
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.base import AsyncBaseTracer, BaseTracer
from pydantic import BaseModel

from langchain_llamashield._compat import STREAMING_HANDLER_TYPES
from langchain_llamashield._context import (
    aiterate_with,
    awaited_with,
    context_with,
    iterate_in_context,
)
from llamashield import ConfigurationError

__all__ = [
    "acall_in",
    "aiterate_in",
    "ambient_callbacks",
    "call_in",
    "child_of",
    "iterate_in",
    "refuse_attached_callbacks",
    "without_live_tokens",
]

M = TypeVar("M", bound=BaseCallbackManager)
T = TypeVar("T")


_STREAMING = STREAMING_HANDLER_TYPES


def _feeds_live_tokens(handler: Any) -> bool:
    """Whether ``handler`` could hand a wrapped run's unjudged output to anyone.

    Every handler but a tracer: besides token handlers (``on_llm_new_token``), a handler's
    ``on_llm_end`` gets the whole answer and its ``on_chain_end`` a chain step's output, all
    before the guard has judged them. Tracers record the run for
    LangSmith and run collectors; they show nothing to a consumer while it runs. The stream
    handlers of ``astream_events``/``astream_log`` are tracers too, but they are the consumer.
    """
    if _STREAMING and isinstance(handler, _STREAMING):
        return True
    return not isinstance(handler, BaseTracer | AsyncBaseTracer)


def without_live_tokens(manager: M) -> M:
    """``manager`` (a fresh child manager) without the handlers that would see unjudged text."""
    manager.handlers = [h for h in manager.handlers if not _feeds_live_tokens(h)]
    manager.inheritable_handlers = [
        h for h in manager.inheritable_handlers if not _feeds_live_tokens(h)
    ]
    return manager


def child_of(run_manager: BaseRunManager) -> CallbackManager | AsyncCallbackManager:
    """A child callback manager of any run, a model's included (LangChain gives ``get_child``
    only to chain runs; a guarded model's checks and wrapped model are its children)."""
    manager_type = (
        AsyncCallbackManager if isinstance(run_manager, AsyncRunManager) else CallbackManager
    )
    manager = manager_type(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def ambient_callbacks(*, live_tokens: bool) -> BaseCallbackManager | list[BaseCallbackHandler]:
    """The callbacks a runnable started now would inherit from LangChain's context.

    A chat model's ``_stream`` gets no run manager (langchain-core fires the token callbacks
    itself), so a guarded model hands its wrapped model these instead, filtered unless
    ``live_tokens``. Never None: callbacks passed explicitly keep the wrapped model from
    picking up the unfiltered ones from the context on its own.
    """
    callbacks = (var_child_runnable_config.get() or {}).get("callbacks")
    if callbacks is None:
        return []
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        return manager if live_tokens else without_live_tokens(manager)
    handlers = list(callbacks)
    return handlers if live_tokens else [h for h in handlers if not _feeds_live_tokens(h)]


# -- callbacks built into the wrapped runnable ---------------------------------------------------
#
# Handlers given to a model's constructor (``ChatOpenAI(callbacks=[h])``) or bound with
# ``with_config(callbacks=...)`` travel inside the runnable, not in the config a guard can filter:
# they would get every unjudged token and the unjudged answer. A guard that moderates output
# refuses such a runnable at construction instead.

_MAX_NODES = 10_000


def _handlers_of(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, BaseCallbackManager):
        return [*callbacks.handlers, *callbacks.inheritable_handlers]
    if isinstance(callbacks, list | tuple):
        return list(callbacks)
    return [callbacks]


def _children(node: Any) -> Iterator[Any]:
    """The runnables (and containers of them) directly inside ``node``."""
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list | tuple):
        yield from node
    elif isinstance(node, RunnableLambda):
        yield from node.deps  # runnables its function uses (closure, globals)
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield getattr(node, name, None)


def attached_callbacks(runnable: Any) -> list[tuple[str, Any]]:
    """``(runnable name, handler)`` for every handler built into ``runnable`` or a runnable
    inside it (a chain's steps, a binding's model, fallbacks, branches, parallel maps)."""
    found: list[tuple[str, Any]] = []
    seen: set[int] = set()
    stack = [runnable]
    while stack and len(seen) < _MAX_NODES:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, Runnable | dict | list | tuple):
            continue
        seen.add(id(node))
        if isinstance(node, Runnable):
            own = getattr(node, "callbacks", None) if isinstance(node, BaseModel) else None
            bound = (
                (getattr(node, "config", None) or {}) if isinstance(node, RunnableBinding) else {}
            )
            for handler in _handlers_of(own) + _handlers_of(bound.get("callbacks")):
                found.append((node.get_name(), handler))
        stack.extend(_children(node))
    return found


def refuse_attached_callbacks(runnable: Any, guarded: str) -> None:
    """Raise ``ConfigurationError`` when ``runnable`` carries its own callback handlers."""
    found = attached_callbacks(runnable)
    if not found:
        return
    names = ", ".join(sorted({f"{type(h).__name__} on {where}" for where, h in found}))
    raise ConfigurationError(
        f"{guarded}: the wrapped runnable has callbacks attached ({names}); they would receive "
        "its tokens and its answer before Llama Guard judges them. Attach them to the guarded "
        "runnable instead (guarded.with_config(callbacks=[...]) or "
        'invoke(..., config={"callbacks": [...]})): there they only see judged output.'
    )


# -- running the wrapped runnable under its own (filtered) config ---------------------------------
#
# LangChain also hands callbacks down through a context variable: a ``RunnableBinding`` (what
# ``bind_tools`` returns) merges the ambient config's callbacks into the ones it is given, which
# would bring the filtered-out handlers back. So the wrapped runnable runs with the context
# variable set to the config it was given.


def call_in(config: RunnableConfig, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` with ``config`` as LangChain's ambient config."""
    return context_with(var_child_runnable_config, config).run(func, *args, **kwargs)


async def acall_in(config: RunnableConfig, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (a coroutine made for this) with ``config`` as the ambient config."""
    return await awaited_with(var_child_runnable_config, config, awaitable)


def iterate_in(config: RunnableConfig, start: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Iterate ``start()`` with ``config`` as the ambient config for every step."""
    return iterate_in_context(partial(context_with, var_child_runnable_config, config), start)


def aiterate_in(config: RunnableConfig, start: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
    """Iterate ``start()`` with ``config`` as the ambient config, in the consuming task (the
    moderated stream's reader) for as long as the iteration lasts."""
    return aiterate_with(var_child_runnable_config, config, start)
