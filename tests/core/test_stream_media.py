"""Media a model streams meets the guard's media policy: a window carrying a media part is
judged (even without new words) with every media part fed up to its end, never released
unjudged."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.streaming import StreamWindows, moderate_stream

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}

items = st.lists(
    st.tuples(st.sampled_from(["", " ", "Hello. ", "more words ", "x"]), st.booleans()),
    min_size=1,
    max_size=12,
)


@given(fed=items, window=st.sampled_from(["sentence", 1, 8, 50]))
@settings(max_examples=200, deadline=None)
def test_every_media_part_is_in_a_judged_windows_conversation(
    fed: list[tuple[str, bool]], window: Any
) -> None:
    windows: StreamWindows[int] = StreamWindows(context="hi", window=window, max_in_flight=1)
    launched: list[Any] = []
    judged_media: list[int] = []

    def settle_all() -> None:
        while launched:
            current = launched.pop(0)
            content = windows.conversation(current)[-1]["content"]
            if isinstance(content, list):
                judged_media.append(sum(1 for part in content if part is not content[0]))
            step = windows.settle(current, LlamaGuard(SimulatedBackend()).check("fine"))
            launched.extend(step.launch)

    for index, (text, media) in enumerate(fed):
        launched.extend(windows.feed(index, text, [IMAGE] if media else []).launch)
        settle_all()
    launched.extend(windows.finish().launch)
    settle_all()
    fed_media = sum(1 for _, media in fed if media)
    assert windows.done
    # The last judged window that saw media saw all of it: no media part left unjudged.
    assert (max(judged_media) if judged_media else 0) == fed_media


def test_a_blocked_media_policy_stops_a_stream_of_an_image_alone() -> None:
    guard = LlamaGuard(SimulatedBackend(), media="block")
    chunks: list[dict[str, Any]] = [{"text": "Here it is. "}, {"image": IMAGE}]
    stream = moderate_stream(
        iter(chunks),
        guard,
        text=lambda item: item.get("text", ""),
        media=lambda item: [item["image"]] if "image" in item else [],
        raise_on_unsafe=False,
    )
    released = list(stream)
    assert {"image": IMAGE} not in released
    assert stream.blocked is not None and "non-text content" in (stream.blocked.error or "")
