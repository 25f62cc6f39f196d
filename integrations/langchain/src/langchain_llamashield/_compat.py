"""Every reach into LangChain's private or protected members, in one place, each with why.

LangChain has no public API for these; each function touches one member and falls back to
public behaviour when it is missing. Checked against ``langchain-core`` 1.8.3, ``langchain``
1.5.2 and ``langgraph`` 1.2.24 (``tests/langchain/test_compat.py`` fails when a release moves
one of them).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams

__all__ = [
    "CHECKED_WITH",
    "STREAMING_HANDLER_TYPES",
    "identifying_params",
    "llm_type",
    "ls_params",
]

CHECKED_WITH = {"langchain-core": "1.8.3", "langchain": "1.5.2", "langgraph": "1.2.24"}


def _streaming_handler_types() -> tuple[type, ...]:
    """The handlers behind ``astream_events``/``astream_log`` (private in langchain-core):
    they hand tokens to the consumer live, so a moderated run keeps them off its wrapped run.
    Without them the public check (a handler overriding ``on_llm_new_token``) still applies."""
    try:
        from langchain_core.tracers._streaming import (
            _StreamingCallbackHandler,
            _V2StreamingCallbackHandler,
        )
    except ImportError:  # pragma: no cover - another langchain-core layout
        return ()
    return (_StreamingCallbackHandler, _V2StreamingCallbackHandler)


STREAMING_HANDLER_TYPES = _streaming_handler_types()


# A guarded chat model reports the wrapped model's identity (traces, caching keys): its
# protected ``_llm_type``, ``_identifying_params`` and ``_get_ls_params``, which LangChain
# defines as the way a chat model describes itself and has no public reader for.


def llm_type(chat_model: BaseChatModel) -> str:
    return str(chat_model._llm_type)


def identifying_params(chat_model: BaseChatModel) -> Any:
    return chat_model._identifying_params


def ls_params(
    chat_model: BaseChatModel, stop: list[str] | None, /, **kwargs: Any
) -> LangSmithParams:
    # Positional-only: the call's kwargs may carry a ``model`` override of their own.
    return chat_model._get_ls_params(stop=stop, **kwargs)
