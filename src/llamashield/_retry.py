"""When to retry a failed backend call, and for how long: one deadline for all attempts.

Pure bookkeeping, shared by the sync and async paths of the guard; only the sleeping differs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from llamashield.backends._base import BackendFailure

__all__ = ["RetryBudget"]

_BASE_DELAY = 0.25
_MAX_DELAY = 8.0


@dataclass(slots=True)
class RetryBudget:
    """Tracks the deadline and the attempts of one check."""

    timeout: float
    max_retries: int
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0

    def remaining(self) -> float:
        return self.timeout - (time.monotonic() - self.started)

    def next_delay(self, failure: BackendFailure) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        self.attempts += 1
        if not failure.retryable or self.attempts > self.max_retries:
            return None
        if failure.retry_after is not None:
            delay = max(0.0, failure.retry_after)
        else:
            delay = min(_MAX_DELAY, _BASE_DELAY * 2 ** (self.attempts - 1))
            delay *= 0.5 + random.random() / 2  # jitter keeps many guards from retrying in step
        # Only retry when the wait leaves time for an attempt worth making.
        if delay + 0.05 >= self.remaining():
            return None
        return delay
