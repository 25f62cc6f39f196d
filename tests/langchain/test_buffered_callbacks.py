"""``CallbackBuffer``: what each kind of handler hears, and when, for every verdict path."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.callbacks import manager as callback_manager
from langchain_core.tracers.base import BaseTracer
from langchain_llamashield._buffered_callbacks import CallbackBuffer


class Keeper(BaseTracer):
    """A record-keeping tracer."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[str] = []

    def _persist_run(self, run: Any) -> None:
        pass

    def on_text(self, text: str, **kwargs: Any) -> None:
        self.heard.append(text)


class Actor(BaseCallbackHandler):
    """A handler that acts on what it hears (a consumer, a listener)."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    def on_text(self, text: str, **kwargs: Any) -> None:
        self.heard.append(text)


def _emit(handlers: list[Any], texts: list[str]) -> None:
    for text in texts:
        # Resolved at call time, as LangChain's run managers do: the buffer's wrapper.
        callback_manager.handle_event(handlers, "on_text", None, text, run_id=uuid.uuid4())


@given(
    hold=st.sampled_from(["all", "actors"]),
    path=st.sampled_from(["release", "drop", "narrow-release", "narrow-drop"]),
    before=st.lists(st.sampled_from("abcdef"), max_size=6),
    after=st.lists(st.sampled_from("uvwxyz"), max_size=6),
)
def test_each_handler_hears_what_the_verdicts_allow_in_order(
    hold: str, path: str, before: list[str], after: list[str]
) -> None:
    keeper, actor = Keeper(), Actor()
    buffer = CallbackBuffer(hold)  # type: ignore[arg-type]
    buffer.run(_emit, [keeper, actor], before)  # the call, before the first verdict
    if path.startswith("narrow"):
        buffer.narrow()  # the input is safe; the answer is still to judge
        buffer.run(_emit, [keeper, actor], after)
    if path.endswith("release"):
        buffer.release()
    else:
        buffer.drop()
    narrowed = path.startswith("narrow")
    heard_later = after if narrowed else []
    # Record keepers hear live unless everything is held, then at the first safe verdict.
    if hold == "actors" or narrowed or path == "release":
        assert keeper.heard == before + heard_later
    else:
        assert keeper.heard == []
    # Acting handlers hear only after the last verdict was safe.
    assert actor.heard == (before + heard_later if path.endswith("release") else [])
    # Once released, later events go straight through; once dropped, to keepers only (or none).
    _emit([keeper, actor], ["late"])  # outside the buffer's context: not affected
    buffer.run(_emit, [keeper, actor], ["inside"])
    released = path.endswith("release")
    assert "late" in actor.heard and "late" in keeper.heard
    assert ("inside" in actor.heard) == released
    assert ("inside" in keeper.heard) == (released or hold == "actors" or narrowed)


def test_events_outside_a_buffer_go_straight_through() -> None:
    keeper, actor = Keeper(), Actor()
    _emit([keeper, actor], ["now"])
    assert keeper.heard == actor.heard == ["now"]
