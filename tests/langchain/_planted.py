"""Judge-or-block test kit for LangChain: the trigger of ``tests._support.planted`` planted in
every LangChain content shape, and a recording callback handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    ToolMessage,
)
from pydantic import BaseModel, Field

from tests._support.planted import carrier
from tests._support.properties import pipeline_property

# Bounded so the whole property suite stays a few seconds per surface in the normal run.
PROPERTY = pipeline_property(40)


class Finding(BaseModel):
    """A pydantic object a tool or a chain may return."""

    title: str
    notes: list[str] = Field(default_factory=list)


# -- content shapes ---------------------------------------------------------------------------


PART_MAKERS: list[Callable[[str], Any]] = [
    lambda t: t,
    lambda t: {"type": "text", "text": t},
    lambda t: {"type": "input_text", "text": t},
    lambda t: {"type": "output_text", "text": t, "annotations": []},
    lambda t: {"type": "reasoning", "summary": [{"type": "summary_text", "text": t}]},
    lambda t: {"type": "reasoning", "reasoning": t},
    lambda t: {"type": "thinking", "thinking": t, "signature": "c2ln"},
    lambda t: {"type": "tool_call", "name": "search", "args": {"q": t}, "id": "c9"},
    lambda t: {"type": "tool_use", "name": "search", "input": {"q": t}, "id": "c9"},
    lambda t: {"type": "function_call", "name": "search", "arguments": json.dumps({"q": t})},
    lambda t: {"type": "json", "json": {"rows": [{"v": t}]}},
    lambda t: {
        "type": "search_result",
        "title": "r",
        "source": "s",
        "content": [{"type": "text", "text": t}],
    },
    lambda t: {
        "type": "document",
        "title": "d",
        "source": {"type": "text", "data": t, "media_type": "text/plain"},
    },
    lambda t: {
        "type": "image_url",
        "image_url": {"url": "https://x.invalid/a.png"},
        "caption": t,
    },
    lambda t: {"type": "mystery_block", "payload": {"deep": [t]}},
    lambda t: {"no_type_here": {"x": t}},
]
SAFE_PARTS = [{"type": "text", "text": "hello"}, {"type": "input_text", "text": "there"}]

content = st.one_of(
    carrier,
    st.tuples(
        st.lists(st.sampled_from(SAFE_PARTS), max_size=2),
        st.sampled_from(PART_MAKERS),
        carrier,
        st.lists(st.sampled_from(SAFE_PARTS), max_size=2),
    ).map(lambda x: [*x[0], x[1](x[2]), *x[3]]),
)
"""Message content with the trigger planted: a str, or a block list of any known or unknown
type with the trigger in one block."""

USER_FORMS: list[Callable[[Any], Any]] = [
    lambda c: HumanMessage(content=c),
    lambda c: ChatMessage(role="user", content=c),
    lambda c: ("user", c),
    lambda c: ("human", c),
    lambda c: {"role": "user", "content": c},
]
"""Every form LangChain accepts for a user's message."""

user_message = st.builds(lambda form, c: form(c), st.sampled_from(USER_FORMS), content)

AI_MAKERS: list[Callable[[Any, str], AIMessage]] = [
    lambda c, t: AIMessage(content=c),
    lambda c, t: AIMessage(content="Sure.", additional_kwargs={"reasoning_content": t}),
    lambda c, t: AIMessage(
        content="", additional_kwargs={"function_call": {"name": "f", "arguments": t}}
    ),
    lambda c, t: AIMessage(
        content="Let me look.", tool_calls=[{"name": "search", "args": {"q": t}, "id": "c1"}]
    ),
    lambda c, t: AIMessage(
        content="", invalid_tool_calls=[{"name": "search", "args": t, "id": "c2", "error": "x"}]
    ),
]
ai_message = st.builds(lambda make, c, t: make(c, t), st.sampled_from(AI_MAKERS), content, carrier)
"""An answer with the trigger in its content blocks, reasoning, function or tool calls."""

tool_message = st.one_of(
    st.builds(lambda c: ToolMessage(content=c, tool_call_id="c1"), content),
    st.builds(
        lambda t: ToolMessage(content="done", artifact={"rows": [t]}, tool_call_id="c1"), carrier
    ),
)

SAFE_HISTORY: list[Any] = [("user", "hi"), ("assistant", "Hello!")]


def planted_messages(draw: st.DrawFn) -> list[Any]:
    """A conversation in mixed forms with the trigger in one message (user, AI or tool)."""
    planted = draw(st.one_of(user_message, ai_message, tool_message))
    before = draw(st.sampled_from([[], SAFE_HISTORY]))
    after = draw(st.sampled_from([[], [("user", "thanks")]]))
    return [*before, planted, *after]


messages_with_trigger = st.composite(planted_messages)()

nested_value = st.one_of(
    content,
    st.builds(lambda t: [t, "x"], carrier),
    st.builds(lambda t: {"a": {"b": [t]}}, carrier),
    st.builds(lambda t: Finding(title="f", notes=[t]), carrier),
    st.builds(lambda t: [{"page": 1, "text": t}], carrier),
)


@st.composite
def planted_prompt_input(draw: st.DrawFn) -> dict[str, Any]:
    """A prompt dict (template variables, a MessagesPlaceholder value) with the trigger in one
    value, whatever its shape."""
    value: dict[str, Any] = {"lang": "English", "question": "summarise"}
    key = draw(st.sampled_from(["messages", "context", "lang", "extra"]))
    if key == "messages":
        value["messages"] = draw(messages_with_trigger)
    else:
        value[key] = draw(nested_value)
    return value


# -- recording fakes --------------------------------------------------------------------------


class Recorder(BaseCallbackHandler):
    """A real callback handler that keeps everything it is given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
        self.seen.append(("token", token, kwargs.get("chunk")))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.seen.append(("llm_end", response))

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.seen.append(("chain_end", outputs))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.seen.append(("chat_model_start", messages))
