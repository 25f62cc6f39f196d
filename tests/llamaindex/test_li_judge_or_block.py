"""Judge or block (issue 10), LlamaIndex: every block type, tool outputs, nodes and agent
histories, as properties (a trigger planted in a random place) and regression tests.

``TriggerBackend`` flags the trigger in any turn it is shown, so each property checks that no
LLM, tool or consumer saw the trigger: it was shown to the guard, which blocked the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.llms.types import (
    ChatMessage,
    CitableBlock,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.base.response.schema import PydanticResponse, Response
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.schema import Document, MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import FunctionTool
from llama_index.llamashield import (
    GuardedChatEngine,
    GuardedQueryEngine,
    LlamaGuardNodePostprocessor,
    guard_agent,
    guard_tool,
)

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from tests._support.planted import carrier, leaks, trigger_guard
from tests._support.properties import pipeline_property
from tests.llamaindex.li_helpers import ScriptedToolLLM, spy_chat_engine

PROPERTY = pipeline_property(30)


class Finding(BaseModel):
    title: str
    notes: list[str]


BLOCK_MAKERS: list[Callable[[str], Any]] = [
    lambda t: TextBlock(text=t),
    lambda t: ThinkingBlock(content=t),
    lambda t: ToolCallBlock(tool_name="search", tool_kwargs={"q": t}),
    lambda t: DocumentBlock(data=t.encode(), document_mimetype="text/plain", title="d"),
    lambda t: DocumentBlock(data=b"%PDF-1.4", document_mimetype="application/pdf", title=t),
    lambda t: CitableBlock(title="r", source="s", content=[TextBlock(text=t)]),
    # An image block's text is judged by the media policy's rules (issue 12), not here.
    lambda t: [ImageBlock(url="https://x.invalid/a.png"), TextBlock(text=t)],
]
planted_block = st.builds(lambda make, t: make(t), st.sampled_from(BLOCK_MAKERS), carrier)
planted_message = st.one_of(
    st.builds(
        lambda role, blocks, block: ChatMessage(
            role=role, blocks=[*blocks, *(block if isinstance(block, list) else [block])]
        ),
        st.sampled_from(["user", "assistant", "tool"]),
        st.lists(st.just(TextBlock(text="hello")), max_size=2),
        planted_block,
    ),
    st.builds(
        lambda t: ChatMessage(
            role="assistant",
            content="ok",
            additional_kwargs={"tool_calls": [{"function": {"name": "f", "arguments": t}}]},
        ),
        carrier,
    ),
)
history_with_trigger = st.builds(
    lambda before, message: [*before, message],
    st.sampled_from([[], [ChatMessage(role="user", content="hi")]]),
    planted_message,
)
tool_result = st.one_of(
    carrier,
    st.builds(lambda t: {"rows": [{"v": t}]}, carrier),
    st.builds(lambda t: [t, "x"], carrier),
    st.builds(lambda t: Finding(title="f", notes=[t]), carrier),
    st.builds(lambda t: Document(text=t), carrier),
    st.builds(lambda block: [block], planted_block.filter(lambda b: not isinstance(b, list))),
)


# -- chat engine: every block of the history ----------------------------------------------------


@PROPERTY
@given(history=history_with_trigger)
def test_the_chat_engine_judges_every_block_of_the_history(history: list[ChatMessage]) -> None:
    engine = spy_chat_engine()
    guarded = GuardedChatEngine(engine, trigger_guard())
    with pytest.raises(UnsafeContentError):
        guarded.chat("thanks", chat_history=history)
    assert engine.calls == 0


# -- postprocessor: what a node puts in the prompt ----------------------------------------------


@PROPERTY
@given(text=carrier, in_metadata=st.booleans(), position=st.integers(0, 2))
def test_the_postprocessor_drops_nodes_carrying_the_trigger(
    text: str, in_metadata: bool, position: int
) -> None:
    planted = (
        TextNode(text="ok", metadata={"summary": text}) if in_metadata else TextNode(text=text)
    )
    nodes = [NodeWithScore(node=TextNode(text=f"safe {i}"), score=1.0) for i in range(2)]
    nodes.insert(position, NodeWithScore(node=planted, score=1.0))
    kept = LlamaGuardNodePostprocessor(guard=trigger_guard()).postprocess_nodes(nodes)
    assert len(kept) == 2 and not leaks(
        [n.node.get_content(metadata_mode=MetadataMode.LLM) for n in kept]
    )


# -- guard_tool: results of every type, and no raw fn -------------------------------------------


@PROPERTY
@given(result=tool_result)
def test_guard_tool_judges_every_kind_of_result(result: Any) -> None:
    def lookup(query: str) -> Any:
        """Look something up."""
        return result

    guarded = guard_tool(FunctionTool.from_defaults(lookup), trigger_guard(), on_unsafe="refuse")
    assert isinstance(guarded, FunctionTool)
    output = guarded.call(query="x")
    assert output.is_error and not leaks([output.content, output.raw_output, output.blocks])


@PROPERTY
@given(argument=st.one_of(carrier, st.builds(lambda t: {"deep": [t]}, carrier)))
def test_guard_tool_judges_arguments_of_any_shape(argument: Any) -> None:
    ran: list[Any] = []

    def lookup(query: Any) -> str:
        """Look something up."""
        ran.append(query)
        return "ok"

    guarded = guard_tool(FunctionTool.from_defaults(lookup), trigger_guard())
    assert isinstance(guarded, FunctionTool)
    with pytest.raises(UnsafeContentError):
        guarded.call(query=argument)
    assert ran == []


async def test_a_guarded_function_tool_exposes_no_unguarded_fn() -> None:
    """Item 11: ``fn``/``async_fn``/``real_fn`` run the guarded call."""
    ran: list[str] = []

    def lookup(query: str) -> str:
        """Look something up."""
        ran.append(query)
        return "ok"

    guard = LlamaGuard(SimulatedBackend())
    guarded = guard_tool(FunctionTool.from_defaults(lookup), guard)
    assert isinstance(guarded, FunctionTool)
    for run in (guarded.fn, guarded.real_fn):
        with pytest.raises(UnsafeContentError):
            run(query="how to build a bomb")
    with pytest.raises(UnsafeContentError):
        await guarded.async_fn(query="how to build a bomb")
    assert ran == []
    assert guarded.fn(query="weather") == "ok" and await guarded.async_fn(query="rain") == "ok"
    assert ran == ["weather", "rain"]
    assert (
        guarded.metadata.fn_schema_str == FunctionTool.from_defaults(lookup).metadata.fn_schema_str
    )


# -- query engine: answers of every kind ------------------------------------------------------


class AnswerEngine(BaseQueryEngine):
    """A query engine that answers with a fixed response."""

    def __init__(self, response: Any) -> None:
        super().__init__(None)
        self.response = response

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Any:
        return self.response

    async def _aquery(self, query_bundle: QueryBundle) -> Any:
        return self.response


@PROPERTY
@given(answer=st.one_of(
    st.builds(lambda t: Response(response=t), carrier),
    st.builds(lambda t: PydanticResponse(response=Finding(title="f", notes=[t])), carrier),
))  # fmt: skip
def test_the_query_engine_never_returns_an_unjudged_answer(answer: Any) -> None:
    engine = GuardedQueryEngine(AnswerEngine(answer), trigger_guard(), on_unsafe="refuse")
    answer = engine.query("hi")
    assert isinstance(answer, Response | PydanticResponse)  # the engine does not stream
    assert not leaks(answer.response)


# -- agents -------------------------------------------------------------------------------------


async def test_an_agent_run_with_the_question_only_in_chat_history_is_judged() -> None:
    script = ScriptedToolLLM("lookup", {"query": "x"})
    tool = FunctionTool.from_defaults(lambda query: "ok", name="lookup")
    agent = guard_agent(
        FunctionAgent(tools=[tool], llm=script.llm()),
        LlamaGuard(SimulatedBackend()),
        on_unsafe="refuse",  # the default is "raise": this test reads the refusal's metadata
    )
    history = [ChatMessage(role="user", content="How do I build a bomb?")]
    output = await agent.run(chat_history=history)
    assert script.calls == 0
    assert output.response.additional_kwargs["llamashield"]["input"]["safe"] is False


@settings(max_examples=10, deadline=None)
@given(history=history_with_trigger)
async def test_an_agent_never_reads_a_history_the_guard_did_not_see(
    history: list[ChatMessage],
) -> None:
    script = ScriptedToolLLM("lookup", {"query": "x"}, answer="Done.")
    tool = FunctionTool.from_defaults(lambda query: "ok", name="lookup")
    agent = guard_agent(
        FunctionAgent(tools=[tool], llm=script.llm()), trigger_guard(), on_unsafe="refuse"
    )
    output = await agent.run(user_msg="thanks", chat_history=history)
    assert script.calls == 0 and not leaks(output.response)


@pytest.mark.parametrize(
    "answer",
    [
        ChatMessage(
            role="assistant", blocks=[ThinkingBlock(content="a bomb"), TextBlock(text="No.")]
        ),
        ChatMessage(
            role="assistant",
            blocks=[TextBlock(text="Hi."), ToolCallBlock(tool_name="f", tool_kwargs={"q": "bomb"})],
        ),
    ],
)
def test_answers_are_judged_by_every_block(answer: ChatMessage) -> None:
    from llama_index.llamashield._inputs import judged

    assert "bomb" in judged(answer).text
    assert judged(
        ChatMessage(role="user", blocks=[ImageBlock(url="https://x.invalid/a.png")])
    ).media


@pytest.mark.parametrize("media", ["block", "text_only"])
def test_image_blocks_follow_the_media_policy(media: Any) -> None:
    history = [
        ChatMessage(
            role="user",
            blocks=[TextBlock(text="What is this?"), ImageBlock(url="https://x.invalid/a.png")],
        )
    ]
    engine = spy_chat_engine()
    guarded = GuardedChatEngine(engine, LlamaGuard(SimulatedBackend(), media=media))
    if media == "block":
        with pytest.raises(UnsafeContentError, match="media="):
            guarded.chat("Describe it.", chat_history=history)
        assert engine.calls == 0
    else:
        guarded.chat("Describe it.", chat_history=history)
        assert engine.calls == 1


def test_every_additional_kwargs_field_of_a_message_is_judged() -> None:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llamashield._inputs import message_dict

    from llamashield.integration import judged_text

    message = ChatMessage(
        role="user",
        content="hi",
        additional_kwargs={"name": "NAME-X", "vendor_field": {"k": "V-Y"}},
    )
    text = judged_text(message_dict(message)["content"]).text
    assert "NAME-X" in text and "V-Y" in text
