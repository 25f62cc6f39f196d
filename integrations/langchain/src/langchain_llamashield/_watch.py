"""Runs nobody watches: what a guard skips when no handler, tracer or hook would see them.

A LangChain run costs more than an instant guard check: a callback manager configured from
the config, the environment and the context, run ids, the ambient config copied into a new
context (a new task, async), and signature inspection of the function on every call. A
guard's own run and its "LlamaGuard" check runs are only there to be seen, so when LangChain
reports no handler for them they are not made: the guard runs the same code with a run
manager that records nothing, and its checks call the guard directly. Verdicts, outputs and
errors are the same either way; only invisible bookkeeping is skipped.

Example::

    config = ensure_config(config)
    if unwatched(config):
        return self._invoke(value, unwatched_run(), config)
    return self._call_with_config(self._invoke, value, config)
"""

from __future__ import annotations

from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForChainRun,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_callback_manager_for_config, patch_config

__all__ = [
    "aunwatched_run",
    "child_config",
    "is_unwatched",
    "observed",
    "unwatched",
    "unwatched_run",
    "without_callbacks",
]


class _Unwatched(CallbackManager):
    """The (empty) callbacks of a child of an unwatched run: marks it for ``observed``."""


class _AsyncUnwatched(AsyncCallbackManager):
    """Async ``_Unwatched``."""


# The run that was not made has no id for children to point at: a child that a handler of its
# own does see (a runnable with callbacks attached) starts a trace of its own, as under any
# untraced parent. With no handlers, no id and nothing to record, one manager serves every run.


class _UnwatchedRun(CallbackManagerForChainRun):
    def get_child(self, tag: str | None = None) -> CallbackManager:
        return _Unwatched(handlers=[])


class _AsyncUnwatchedRun(AsyncCallbackManagerForChainRun):
    def get_child(self, tag: str | None = None) -> AsyncCallbackManager:
        return _AsyncUnwatched(handlers=[])


_UNWATCHED_RUN = _UnwatchedRun.get_noop_manager()
_AUNWATCHED_RUN = _AsyncUnwatchedRun.get_noop_manager()


def unwatched(config: RunnableConfig) -> bool:
    """Whether a run started with ``config`` would reach no handler at all.

    Asks LangChain itself (``get_callback_manager_for_config``), so handlers that come from
    the environment (``LANGCHAIN_TRACING_V2``), the context (``tracing_v2_enabled``,
    ``collect_runs``) or configure hooks count as watching.
    """
    manager = get_callback_manager_for_config(config)
    return not (manager.handlers or manager.inheritable_handlers)


def unwatched_run() -> CallbackManagerForChainRun:
    """A run manager that records nothing, for a run ``unwatched`` said nobody would see.

    Its children's callbacks are marked, so checks under it skip their runs without asking
    LangChain again (the environment and context it was asked about have not changed).
    """
    return _UNWATCHED_RUN


def aunwatched_run() -> AsyncCallbackManagerForChainRun:
    """Async ``unwatched_run``."""
    return _AUNWATCHED_RUN


def is_unwatched(run_manager: Any) -> bool:
    """Whether ``run_manager`` came from ``unwatched_run``/``aunwatched_run``."""
    return isinstance(run_manager, _UnwatchedRun | _AsyncUnwatchedRun)


def child_config(
    config: RunnableConfig,
    run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
) -> RunnableConfig:
    """The config for a child of ``run_manager``'s run: ``patch_config(config,
    callbacks=run_manager.get_child())``.

    Under an unwatched run, ``config`` was ensured when the run started (nobody changed it
    since), so it is not copied and merged with the ambient config once more: the child gets
    its keys and the marked empty callbacks. Like ``patch_config``, it drops ``run_name`` and
    ``run_id``, which name the parent's run.
    """
    if not is_unwatched(run_manager):
        return patch_config(config, callbacks=run_manager.get_child())
    child: dict[str, Any] = {k: v for k, v in config.items() if k not in ("run_name", "run_id")}
    child["callbacks"] = run_manager.get_child()
    return cast(RunnableConfig, child)


def without_callbacks(config: RunnableConfig) -> RunnableConfig:
    """``config`` with no callbacks, for a runnable called under an unwatched run.

    Not even the marked empty ones: LangChain copies a callback manager at every step of a
    runnable, and there is nothing in this one. (A llamashield guard nested inside then asks
    LangChain whether anyone watches, and is told no.)
    """
    bare = dict(config)
    bare["callbacks"] = None
    return cast(RunnableConfig, bare)


def observed(config: RunnableConfig | None) -> bool:
    """Whether a run started with ``config`` would reach any handler (a tracer included)."""
    callbacks: Any = (config or {}).get("callbacks")
    if isinstance(callbacks, _Unwatched | _AsyncUnwatched):
        return False
    if isinstance(callbacks, BaseCallbackManager):
        if callbacks.handlers or callbacks.inheritable_handlers:
            return True
    elif callbacks:
        return True
    # Empty or absent: LangChain may still add handlers from the environment, the context
    # (``collect_runs`` adds its collector to every run, not by inheritance) or hooks.
    return not unwatched(config or {})
