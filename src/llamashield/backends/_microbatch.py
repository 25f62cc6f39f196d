"""A micro-batcher: concurrent callers hand in one item each; one worker thread runs them batched.

The guard calls a backend once per conversation (``check_many`` from a thread pool, ``acheck_many``
with ``asyncio.gather``). A local model is far faster on a padded batch than on the same
conversations one by one, so the backend queues each call here and a single worker thread takes
everything queued (up to ``max_batch_size``) as one batch. A lone call runs at once; only when
several calls are already waiting does the worker linger ``max_wait`` seconds to fill the batch.
Sync callers block on the returned future, async callers await it: the model never runs on the
event loop, and one batch runs at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Collect items from concurrent callers and run them through ``process`` in batches.

    ``process`` takes a list of items and returns one outcome per item, in order: a result, or
    an exception to raise in that item's caller. If ``process`` itself raises, every item of the
    batch gets that exception.

    Example::

        batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch_size=8)
        batcher.submit(21).result()     # 42
    """

    def __init__(
        self,
        process: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        max_batch_size: int,
        max_wait: float = 0.002,
        name: str = "llamashield-batcher",
    ) -> None:
        if not (isinstance(max_batch_size, int) and max_batch_size >= 1):
            raise ValueError(f"max_batch_size must be an int >= 1, got {max_batch_size!r}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait!r}")
        self._process = process
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self._name = name
        self._pending: deque[tuple[T, Future[R]]] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = False

    def submit(self, item: T) -> Future[R]:
        """Queue one item; the future resolves when its batch has run."""
        future: Future[R] = Future()
        with self._cond:
            self._stopping = False  # a call after close() starts a worker again
            self._pending.append((item, future))
            if self._worker is None or not self._worker.is_alive():
                # Daemon: a guard left open must not keep the interpreter alive at exit.
                self._worker = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._worker.start()
            self._cond.notify()
        return future

    def close(self, timeout: float | None = None) -> None:
        """Let the worker finish what is queued, then stop it (its thread ends)."""
        with self._cond:
            self._stopping = True
            worker = self._worker
            self._cond.notify_all()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _take_batch(self) -> list[tuple[T, Future[R]]] | None:
        with self._cond:
            while not self._pending:
                if self._stopping:
                    self._worker = None
                    return None
                self._cond.wait()
            batch = self._drain()
            if 1 < len(batch) < self.max_batch_size and self.max_wait > 0:
                # Several callers were already waiting: more are probably on their way.
                room = self.max_batch_size - len(batch)
                self._cond.wait_for(lambda: len(self._pending) >= room, timeout=self.max_wait)
                batch += self._drain(self.max_batch_size - len(batch))
        return batch

    def _drain(self, limit: int | None = None) -> list[tuple[T, Future[R]]]:
        room = self.max_batch_size if limit is None else limit
        taken: list[tuple[T, Future[R]]] = []
        while self._pending and len(taken) < room:
            taken.append(self._pending.popleft())
        return taken

    def _loop(self) -> None:
        while (taken := self._take_batch()) is not None:
            # Callers that gave up (timeout, cancelled task) drop out before any work is done.
            batch = [(i, f) for i, f in taken if f.set_running_or_notify_cancel()]
            if batch:
                self._run(batch)

    def _run(self, batch: list[tuple[T, Future[R]]]) -> None:
        try:
            outcomes = list(self._process([item for item, _ in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"batch function returned {len(outcomes)} outcomes for {len(batch)} items"
                )
        except BaseException as error:  # the worker must survive anything a batch throws
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
