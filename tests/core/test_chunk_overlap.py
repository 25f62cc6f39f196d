"""Issue 20, item 10: a long message is judged in overlapping windows, and every span of at most
``chunk_overlap`` characters is seen whole in at least one window (proved over random lengths,
window sizes, overlaps and spans)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield._chunking import split_long_turn
from llamashield._conversation import Turn
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest


def _distinct_text(length: int) -> str:
    # Every character different: a substring match is a match at one position only.
    return "".join(chr(0x4E00 + i) for i in range(length))


@st.composite
def layouts(draw: st.DrawFn) -> tuple[int, int, int]:
    chunk = draw(st.integers(2, 300))
    overlap = draw(st.integers(0, chunk - 1))
    length = draw(st.integers(0, 2_000))
    return length, chunk, overlap


def _windows(length: int, chunk: int, overlap: int) -> tuple[str, list[str]]:
    text = _distinct_text(length)
    parts = split_long_turn((Turn("user", "before"), Turn("user", text)), chunk, overlap)
    return text, [part[-1].content for part in parts]


@settings(max_examples=500, deadline=None)
@given(layout=layouts(), data=st.data())
def test_every_span_up_to_the_overlap_is_whole_in_one_window(
    layout: tuple[int, int, int], data: st.DataObject
) -> None:
    length, chunk, overlap = layout
    text, windows = _windows(length, chunk, overlap)
    span_length = data.draw(st.integers(0, min(overlap, length)), label="span length")
    start = data.draw(st.integers(0, length - span_length), label="span start")
    span = text[start : start + span_length]
    assert any(span in window for window in windows), (start, span_length, len(windows))


@settings(max_examples=300, deadline=None)
@given(layout=layouts())
def test_the_windows_cover_the_text_exactly_without_waste(layout: tuple[int, int, int]) -> None:
    length, chunk, overlap = layout
    text, windows = _windows(length, chunk, overlap)
    if length <= chunk:
        assert windows == [text]
        return
    starts = [text.index(w[0]) for w in windows]
    step = chunk - overlap
    assert starts == [k * step for k in range(len(windows))]
    assert all(w == text[s : s + chunk] for s, w in zip(starts, windows, strict=True))
    assert starts[-1] + len(windows[-1]) == length  # the last window reaches the end
    # ...and is needed: the window before it does not reach the end.
    assert starts[-2] + chunk < length
    # Consecutive windows share exactly `overlap` characters.
    for before, after in pairwise(windows):
        if overlap:
            assert before[-overlap:] == after[:overlap]


@settings(max_examples=300, deadline=None)
@given(layout=layouts())
def test_the_guarantee_is_tight(layout: tuple[int, int, int]) -> None:
    # overlap + 1 characters always fit; overlap + 2 do not, so the windows are no larger than
    # the guarantee needs (and the test above would catch a window step one too long).
    length, chunk, overlap = layout
    if length <= chunk:
        return
    text, windows = _windows(length, chunk, overlap)
    step = chunk - overlap
    fits = text[step - 1 : step + overlap]  # overlap + 1 characters across the first seam
    split = text[step - 1 : chunk + 1]  # overlap + 2 characters
    assert any(fits in w for w in windows)
    assert not any(split in w for w in windows)


def test_overlap_must_be_smaller_than_the_window() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split_long_turn((Turn("user", "x" * 50),), 10, 10)


# -- through the guard: a request planted anywhere in a long message is judged whole ----------

TRIGGER = "please paint the fence purple at noon"
FILLER = "the garden is green and the rain is soft "


class Recording(SimulatedBackend):
    """Keyword rules that match only the whole planted request; records every judged text."""

    def __init__(self) -> None:
        super().__init__(rules={TRIGGER: "S8"})
        self.seen: list[str] = []

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self.seen.append(request.conversation[-1].content)
        return super().complete(request, timeout=timeout)


@settings(max_examples=200, deadline=None)
@given(
    chunk=st.integers(2 * len(TRIGGER) + 2, 400),
    extra=st.integers(0, 200),
    length=st.integers(0, 3_000),
    data=st.data(),
)
def test_a_request_no_longer_than_the_overlap_is_never_judged_in_halves(
    chunk: int, extra: int, length: int, data: st.DataObject
) -> None:
    overlap = min(len(TRIGGER) + extra, chunk // 2 - 1)
    filler = (FILLER * (length // len(FILLER) + 1))[:length]
    at = data.draw(st.integers(0, length), label="where")
    backend = Recording()
    guard = LlamaGuard(backend, chunk_chars=chunk, chunk_overlap=overlap, circuit_breaker=None)
    verdict = guard.check(filler[:at] + TRIGGER + filler[at:])
    assert not verdict.safe and verdict.codes == ("S8",)
    assert any(TRIGGER in seen for seen in backend.seen)


def test_the_control_a_request_longer_than_the_overlap_can_fall_in_halves() -> None:
    # Without the overlap the same request, planted across a window's edge, is never whole.
    chunk = 100
    text = "x" * (chunk - 10) + TRIGGER + "x" * 300
    backend = Recording()
    guard = LlamaGuard(backend, chunk_chars=chunk, chunk_overlap=0, circuit_breaker=None)
    assert guard.check(text).safe
    assert len(backend.seen) > 1 and not any(TRIGGER in seen for seen in backend.seen)
