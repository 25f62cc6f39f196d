"""``StreamWindows`` as a state machine: any order of chunks, ends and verdicts (settled in any
order, as concurrent checks return) keeps the stream's promises.

- Order: what is released is always a prefix of what was fed, in order.
- At most once: no chunk is released twice.
- Only judged text: a chunk is never released while its window is being judged, nor once a
  verdict on it was unsafe.
- Nothing after a block: once a verdict is unsafe, no step releases or launches anything.
- Complete: a stream that ended with every verdict safe has released every chunk.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from llamashield import Category, Verdict
from llamashield.streaming import Schedule, StreamWindows, Window

SAFE = Verdict(safe=True, role="agent", raw="safe")
UNSAFE = Verdict(safe=False, categories=(Category("S1", "Violent Crimes"),), role="agent")

TEXTS = st.one_of(
    st.sampled_from(["Hello", " world", ". ", "!", "\n", "  ", "", "3.14", "Done.", "x" * 40]),
    st.text(max_size=12),
)


class StreamWindowsMachine(RuleBasedStateMachine):
    windows: StreamWindows[int]

    @initialize(
        window=st.one_of(st.just("sentence"), st.integers(1, 30)),
        max_in_flight=st.integers(1, 3),
        min_window_chars=st.integers(0, 20),
        max_window_chars=st.integers(1, 60),
        max_context_chars=st.none() | st.integers(1, 50),
    )
    def start(
        self, window: Any, max_in_flight: int, min_window_chars: int, max_window_chars: int,
        max_context_chars: int | None,
    ) -> None:  # fmt: skip
        self.windows = StreamWindows(
            context="tell me", window=window, max_in_flight=max_in_flight,
            min_window_chars=min_window_chars, max_window_chars=max_window_chars,
            max_context_chars=max_context_chars,
        )  # fmt: skip
        self.fed: list[int] = []
        self.texts: list[str] = []
        self.released: list[int] = []
        self.pending: list[Window[int]] = []  # launched, no verdict yet
        self.unsafe_items: set[int] = set()
        self.released_at_block: int | None = None

    # -- driving ------------------------------------------------------------------------------

    def _apply(self, step: Schedule[int]) -> None:
        if self.windows.blocked is not None and self.released_at_block is not None:
            assert step.launch == [] and step.release == [], "a step after the block"
        for window in step.launch:
            assert window.items, "an empty window was sent to the guard"
            conversation = self.windows.conversation(window)
            judged = self.windows.text[window.start : window.end]
            assert conversation[-1]["role"] == "assistant"
            assert conversation[-1]["content"].endswith(judged), "the window's text not judged"
        self.pending.extend(step.launch)
        self.released.extend(step.release)

    @precondition(lambda self: not self.windows.ended)
    @rule(text=TEXTS)
    def feed(self, text: str) -> None:
        item = len(self.fed)
        self.fed.append(item)
        self.texts.append(text)
        self._apply(self.windows.feed(item, text))

    @precondition(lambda self: not self.windows.ended)
    @rule()
    def finish(self) -> None:
        self._apply(self.windows.finish())

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), safe=st.booleans())
    def settle(self, data: st.DataObject, safe: bool) -> None:
        window = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        if not safe:
            self.unsafe_items.update(window.items)
        was_blocked = self.windows.blocked is not None
        self._apply(self.windows.settle(window, SAFE if safe else UNSAFE))
        if not was_blocked and self.windows.blocked is not None:
            self.released_at_block = len(self.released)

    @rule()
    def wait(self) -> None:
        """Nothing happens (a stream that ended and was judged has no other move)."""
        assert self.windows.in_flight == len(self.pending)

    # -- promises -----------------------------------------------------------------------------

    @invariant()
    def released_in_order_and_at_most_once(self) -> None:
        assert self.released == self.fed[: len(self.released)]

    @invariant()
    def nothing_released_unjudged_or_unsafe(self) -> None:
        released = set(self.released)
        in_judgement = {item for window in self.pending for item in window.items}
        assert not released & in_judgement
        assert not released & self.unsafe_items

    @invariant()
    def nothing_released_after_a_block(self) -> None:
        if self.released_at_block is not None:
            assert len(self.released) == self.released_at_block
            assert self.windows.done

    @invariant()
    def checks_in_flight_stay_bounded(self) -> None:
        # The tail is launched whatever the limit: at most one check more than it.
        assert self.windows.in_flight <= self.windows.max_in_flight + 1

    @invariant()
    def a_stream_judged_safe_to_the_end_releases_everything(self) -> None:
        if self.windows.ended and not self.pending and self.windows.blocked is None:
            assert self.windows.done
            assert self.released == self.fed

    @invariant()
    def the_text_is_everything_fed(self) -> None:
        assert self.windows.text == "".join(self.texts)


StreamWindowsMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestStreamWindows = StreamWindowsMachine.TestCase
