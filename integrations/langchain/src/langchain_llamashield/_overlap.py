"""Whether ``parallel=True`` overlaps the next call's input check with the wrapped call.

Overlapping pays when the check waits (a network round trip, a busy server) and costs when it
does not: a thread or a task to hand the check to, and, in one process, the GIL the two halves
share. Where the line falls depends on the machine and the guard (on a two-core machine with the
guard on loopback, overlapping a 1 ms check made calls 4-9% slower; with 1 ms of server latency
added it made them 16% faster), so it is measured, not guessed.

- The wall time of "input check + wrapped call" is kept for each way of running them: the
  median of its last calls (5), so one odd call does not decide.
- Checking first is the default: overlapping is taken only when it is more than 10% faster
  (timings on a shared machine are noisy), and kept while it stays faster.
- The other way is re-measured now and then, so that a change (the guard slowing down, the model
  speeding up) is noticed: 3 calls in a row, its old timings dropped, so the comparison is
  between two fresh medians and not against a stale one from a noisy moment. The first re-try
  comes 8 calls after the choice was made; each re-try that confirms the choice by a clear
  margin (5%) doubles the wait (a gap over 20% quadruples it), up to 256 calls; near-ties are
  re-tried every 8 calls.
- It starts with 3 overlapped calls (as asked), then 3 checked first.

Verdicts, outputs and errors are the same either way: only the scheduling differs.

Example::

    overlap = OverlapChooser()
    way = overlap.choose()          # True: check and call at once
    ...
    overlap.record(way, seconds)
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

__all__ = ["OverlapChooser"]


class OverlapChooser:
    """A two-way choice by measured wall time (medians of recent calls), with fresh re-tries."""

    def __init__(
        self,
        *,
        explore_min: int = 8,
        explore_max: int = 256,
        burst: int = 3,
        window: int = 5,
        margin: float = 0.10,
    ) -> None:
        if not 2 <= explore_min <= explore_max:
            raise ValueError(
                f"need 2 <= explore_min <= explore_max, got {explore_min}, {explore_max}"
            )
        if not 1 <= burst <= window:
            raise ValueError(f"need 1 <= burst <= window, got {burst}, {window}")
        self.explore_min = explore_min
        self.explore_max = explore_max
        self.burst = burst
        self.margin = margin
        self._samples: dict[bool, deque[float]] = {
            True: deque(maxlen=window),
            False: deque(maxlen=window),
        }
        self._seconds: dict[bool, float | None] = {True: None, False: None}
        self._calls = 0
        self._best: bool | None = None
        self._interval = explore_min
        self._next = 0
        # The way being (re-)measured and how many of its calls are still to hand out: it
        # starts with the overlapped way, as asked.
        self._trying, self._tries_left = True, burst
        self._started = False
        self._lock = threading.Lock()

    def averages(self) -> dict[bool, float | None]:
        """Seconds per call: ``{True: overlapped, False: one after the other}`` (medians)."""
        with self._lock:
            return dict(self._seconds)

    def choose(self) -> bool:
        """True: overlap the input check with the call; False: check first, then call."""
        with self._lock:
            self._calls += 1
            if self._tries_left:
                self._tries_left -= 1
                return self._trying
            overlapped, inline = self._seconds[True], self._seconds[False]
            if overlapped is None or inline is None:
                if not self._started:  # the start: 3 calls checked first, after 3 overlapped
                    self._started = True
                    return self._retry(False)
                return True  # their timings are not all in yet (concurrent calls): as asked
            faster = self._faster(overlapped, inline)
            if faster != self._best:  # the faster way changed (or is first known): watch closely
                self._best, self._interval = faster, self.explore_min
                self._next = self._calls + self._interval
            if self._calls < self._next:
                return faster
            # Near-ties are re-measured often (the wrong way costs little, but being stuck in
            # it costs every call); a clear winner is re-checked ever more rarely.
            # A wide gap makes re-tries dear (each runs the slow way) and unlikely to change
            # anything: they thin out twice as fast.
            gap = abs(overlapped - inline) / min(overlapped, inline)
            growth = 1 if gap < self.margin / 2 else 2 if gap < 2 * self.margin else 4
            if growth == 1:
                self._interval = self.explore_min
            else:
                self._interval = min(growth * self._interval, self.explore_max)
            self._next = self._calls + self.burst + self._interval
            return self._retry(not faster)

    def _retry(self, way: bool) -> bool:
        # Re-measure ``way`` from scratch: ``burst`` calls in a row, its old timings dropped.
        self._samples[way].clear()
        self._trying, self._tries_left = way, self.burst - 1
        return way

    def _faster(self, overlapped: float, inline: float) -> bool:
        # Checking first is the default way (nothing runs before the verdict), overlapping must
        # earn its place: it is taken only when clearly faster (timings on a shared machine are
        # noisy), and kept only while it stays faster.
        if self._best:
            return overlapped < inline
        return overlapped < inline * (1 - self.margin)

    def record(self, overlapped: bool, seconds: float) -> None:
        """How long one call's input check and wrapped call took, run the way ``choose`` said."""
        with self._lock:
            samples = self._samples[overlapped]
            samples.append(seconds)
            self._seconds[overlapped] = statistics.median(samples)
