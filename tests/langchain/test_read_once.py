"""The LangChain adapter reads each input and output once (issue 13): what it hands the core
reads as the content it came from, and its fast field reads agree with ``getattr``."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_llamashield._inputs import _field, has_content, to_judge

from llamashield._content import judged_text

leaves = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.booleans())
contents = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
        st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=8)),
        st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, st.text(max_size=8)),
    ),
    max_leaves=12,
)


@given(contents)
def test_what_the_core_gets_reads_as_the_content_it_came_from(content: Any) -> None:
    handed = to_judge(content)
    assert (handed is None) == (not has_content(content))
    if handed is not None:
        assert judged_text(handed).text == judged_text(content).text
        assert judged_text(handed).media == judged_text(content).media


def test_message_fields_are_read_as_getattr_reads_them() -> None:

    class WithProperty(HumanMessage):
        @property
        def artifact(self) -> str:
            return "from a property"

    messages = [
        AIMessage("a", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "1"}]),
        AIMessageChunk(content="b", tool_call_chunks=[{"name": "f", "args": "{", "id": "1"}]),
        ToolMessage("c", tool_call_id="1", artifact={"rows": [1, 2]}),
        HumanMessage("d", artifact="an extra field"),  # messages allow extra fields
        WithProperty(content="e"),
    ]
    names = ["tool_calls", "invalid_tool_calls", "tool_call_chunks", "artifact", "nothing"]
    for message in messages:
        for name in names:
            assert _field(message, name) == getattr(message, name, None), (message, name)
