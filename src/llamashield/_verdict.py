"""The ``Verdict`` a guard returns: what the model said, and what the policy made of it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llamashield import _publish
from llamashield._taxonomy import Category

__all__ = ["Verdict"]


class Verdict(BaseModel):
    """The judgement of one conversation's last turn.

    ``safe`` is the policy's decision: an unsafe answer in a category the policy does not
    enforce is reported in ``categories`` but leaves ``safe`` true. When the backend failed or
    answered something unreadable, ``error`` says what happened and ``safe`` is false unless the
    guard was built with ``on_error="allow"``, except that an answer whose first line is
    ``unsafe`` stays unsafe whatever follows it. Under ``threshold=``, an answer that came
    without a score is decided by its text and says so in ``error``.

    Example::

        verdict = guard.check("How do I make a bomb?")
        if not verdict.safe:
            print([c.name for c in verdict.categories])   # ['Indiscriminate Weapons']
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    safe: bool
    categories: tuple[Category, ...] = ()
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    role: Literal["user", "agent"] = "user"
    raw: str = ""
    model: str = ""
    latency_ms: float = 0.0
    cached: bool = False
    error: str | None = None
    shadow: bool = False
    """Judged in shadow mode (``LlamaGuard(shadow=True)`` or a component's ``shadow=True``):
    recorded, never enforced. ``safe`` is then always true and ``would_block`` says what
    enforcing would have done."""
    would_block: bool | None = None
    """Under shadow mode, whether this content would have been blocked (or the pipeline failed,
    under ``on_error="raise"``); ``None`` outside shadow mode, where ``safe`` says it."""

    @property
    def unsafe(self) -> bool:
        return not self.safe

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    @property
    def flagged(self) -> bool:
        """Whether the guard's policy flags this content: it blocks when enforced and is only
        recorded in shadow mode. Count these to read a block rate."""
        return bool(self.would_block) if self.shadow else not self.safe

    def __str__(self) -> str:
        if self.shadow:
            return f"shadow ({'would block' if self.would_block else 'would pass'}): " + str(
                self.model_copy(update={"safe": not self.would_block, "shadow": False})
            )
        if self.error:
            state = "safe (error allowed)" if self.safe else "blocked (error)"
            return f"{state}: {self.error}"
        if not self.categories:
            return "safe" if self.safe else "unsafe"
        names = ", ".join(f"{c.code} {c.name}" for c in self.categories)
        return f"{'safe' if self.safe else 'unsafe'}: {names}"


_publish(globals())  # the public names here report ``llamashield`` as their module
