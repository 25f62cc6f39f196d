"""Faults the loopback server can inject: HTTP errors, bad verdicts, hangs, dropped connections."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["status", "malformed", "hang", "drop"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. ``status`` faults may carry a Retry-After header (seconds)."""

    kind: FaultKind
    status: int = 503
    retry_after: float | None = None
    hang_seconds: float = 3600.0


class FaultPlan:
    """Scripted faults first (``inject``), then a random mix at ``rate`` (seeded)."""

    def __init__(
        self, rate: float = 0.0, mix: tuple[Fault, ...] = (), seed: int | None = 0
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {rate}")
        if rate and not mix:
            raise ValueError("a fault rate needs a mix of faults to draw from")
        self.rate = rate
        self.mix = mix
        self._random = random.Random(seed)
        self._scripted: deque[Fault] = deque()
        self._forever: Fault | None = None
        self._lock = threading.Lock()

    def add(self, fault: Fault, times: int | None = 1) -> None:
        with self._lock:
            if times is None:
                self._forever = fault
            else:
                self._scripted.extend([fault] * times)

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._forever = None

    def next(self) -> Fault | None:
        with self._lock:
            if self._scripted:
                return self._scripted.popleft()
            if self._forever is not None:
                return self._forever
            if self.rate and self._random.random() < self.rate:
                return self._random.choice(self.mix)
        return None
