"""A circuit breaker: after repeated backend failures, fail fast (closed: not safe) for a while.

Without it, every request during an outage waits out the full timeout and retries before
failing. With it, after ``failures`` consecutive failed checks the guard answers at once with an
error verdict (the error policy decides, so the default still blocks) until ``cooldown`` seconds
pass; then one probe goes through, and its success closes the circuit again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from llamashield import _publish, _telemetry
from llamashield._exceptions import ConfigurationError

__all__ = ["CircuitBreaker", "Health"]

# How one check went, for the breaker: None when it says nothing about the backend's health.
Health = Literal["success", "failure"] | None


@dataclass
class CircuitBreaker:
    """Fail fast after ``failures`` consecutive backend failures, for ``cooldown`` seconds.

    Example::

        guard = LlamaGuard(backend, circuit_breaker=CircuitBreaker(failures=3, cooldown=10))
        guard = LlamaGuard(backend, circuit_breaker=None)   # never fail fast

    ``clock`` gives the time in seconds (``time.monotonic``); tests pass one they move by hand,
    so a cool-down passes without waiting for it.
    """

    failures: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    _consecutive: int = field(default=0, init=False, repr=False)
    _opened_at: float | None = field(default=None, init=False, repr=False)
    _probing: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.failures < 1 or self.cooldown <= 0:
            raise ConfigurationError("CircuitBreaker needs failures >= 1 and cooldown > 0 seconds")

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """``closed`` (checks go ahead), ``open`` (failing fast) or ``half_open`` (one probe is
        out); traced as ``llamashield.breaker.state``."""
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._probing else "open"

    def admit(self) -> tuple[float | None, bool]:
        """(None, is_probe) when a check may go ahead, else (seconds until the next probe,
        False). The one probe a cool-down allows must be ``settle``d with ``probe=True``."""
        with self._lock:
            if self._opened_at is None:
                return None, False
            waited = self.clock() - self._opened_at
            if waited >= self.cooldown and not self._probing:
                self._probing = True  # exactly one caller probes the backend
                _telemetry.note_breaker("half_open")
                return None, True
            return max(self.cooldown - waited, 0.0), False

    def settle(self, health: Health, *, probe: bool) -> None:
        """Record one check's outcome; ``None`` (cancelled, no readable answer) changes
        nothing but still frees the probe slot, so the next caller can probe."""
        with self._lock:
            before = self.state
            if health == "success":
                self._consecutive = 0
                self._opened_at = None
            elif health == "failure":
                self._consecutive += 1
                if probe or self._consecutive >= self.failures:
                    self._opened_at = self.clock()
            if probe:
                self._probing = False
            after = self.state
        if after != before:
            _telemetry.note_breaker(after)

    def blocked_for(self) -> float | None:
        """None when a call may go ahead; else the seconds until the next probe is allowed."""
        return self.admit()[0]

    def record_success(self) -> None:
        self.settle("success", probe=self._probing)

    def record_failure(self) -> None:
        self.settle("failure", probe=self._probing)


_publish(globals())  # the public names here report ``llamashield`` as their module
