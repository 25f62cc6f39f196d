"""The thread behind ``parallel=True``'s input check (sync): one shared pool, and no wait on it.

A pool per call (LangChain's ``get_executor_for_config``) starts a thread and joins it every
time, which costs more than a fast guard's answer: parallel mode was slower than sequential.
One lazily made pool serves every call instead, and a check the pool has not started by the
time the wrapped call returns (every worker busy) is taken back and run inline, so a busy pool
never makes a call slower than sequential mode would.

Example::

    pending = start(check.invoke, context, config)
    output = runnable.invoke(value, config)
    verdict = finish(pending, check.invoke, context, config)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from langchain_core.runnables.config import ContextThreadPoolExecutor

__all__ = ["finish", "start"]

T = TypeVar("T")

_lock = threading.Lock()
_pool: ContextThreadPoolExecutor | None = None


def _executor() -> ContextThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                # Threads start on demand, up to ThreadPoolExecutor's default, and then stay.
                _pool = ContextThreadPoolExecutor(thread_name_prefix="llamashield-parallel")
    return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: its copy of the pool would queue forever.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def start(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn(*args)`` on the shared pool, in a copy of the caller's context."""
    return _executor().submit(fn, *args)


def finish(pending: Future[T], fn: Callable[..., T], *args: Any) -> T:
    """``pending``'s result; ``fn(*args)`` here instead if the pool never started it."""
    if pending.cancel():
        return fn(*args)
    return pending.result()
