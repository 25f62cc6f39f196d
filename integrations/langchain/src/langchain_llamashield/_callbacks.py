"""Callbacks for a wrapped run whose output is moderated: keep traces, drop live token feeds.

A guarded component passes its own (moderated) chunks to its callbacks. The wrapped model runs as
a child whose tokens are not judged yet, so its child callbacks keep the tracers (LangSmith, run
collectors: the trace shows what the model really said) but lose whatever would hand unjudged
text to the consumer live: the ``astream_events``/``astream_log`` stream handlers and any
handler with its own ``on_llm_new_token`` (``StreamingStdOutCallbackHandler`` and the like).
"""

from __future__ import annotations

from typing import Any, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackHandler,
    AsyncCallbackManager,
    BaseCallbackHandler,
    BaseCallbackManager,
    CallbackManager,
)
from langchain_core.callbacks.manager import AsyncRunManager, BaseRunManager
from langchain_core.tracers.base import AsyncBaseTracer, BaseTracer

__all__ = ["child_of", "without_live_tokens"]

M = TypeVar("M", bound=BaseCallbackManager)


def _streaming_markers() -> tuple[type, ...]:
    try:  # private in langchain-core; without it the token check below still applies
        from langchain_core.tracers._streaming import (
            _StreamingCallbackHandler,
            _V2StreamingCallbackHandler,
        )
    except ImportError:  # pragma: no cover - older or newer langchain-core
        return ()
    return (_StreamingCallbackHandler, _V2StreamingCallbackHandler)


_STREAMING = _streaming_markers()


def _feeds_live_tokens(handler: Any) -> bool:
    if _STREAMING and isinstance(handler, _STREAMING):
        return True
    if isinstance(handler, BaseTracer | AsyncBaseTracer):
        return False  # tracers record the run; they do not show it to anyone while it streams
    kind = type(handler)
    return any(
        getattr(kind, name, None)
        not in (getattr(BaseCallbackHandler, name, None), getattr(AsyncCallbackHandler, name, None))
        for name in ("on_llm_new_token", "on_stream_event")
    )


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
