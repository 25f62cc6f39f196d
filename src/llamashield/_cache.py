"""A small thread-safe LRU of verdicts, keyed by the normalised conversation."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from llamashield._verdict import Verdict


class VerdictCache:
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"cache size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Verdict | None:
        with self._lock:
            verdict = self._data.get(key)
            if verdict is not None:
                self._data.move_to_end(key)
        return verdict

    def put(self, key: Hashable, verdict: Verdict) -> None:
        if verdict.error is not None:
            return  # a failure is about this moment, not about the content
        with self._lock:
            self._data[key] = verdict.model_copy(update={"cached": True})
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
