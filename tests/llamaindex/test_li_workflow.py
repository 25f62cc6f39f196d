"""GuardedWorkflow (a guard step in your workflow) and guard_agent (FunctionAgent runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentStream,
    AgentWorkflow,
    FunctionAgent,
    ToolCallResult,
)
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import StopEvent, step
from llama_index.llamashield import (
    Blocked,
    GuardedWorkflow,
    SafeInputEvent,
    guard_agent,
)
from llama_index.llamashield.tools import GuardedFunctionTool

from llamashield import LlamaGuard, UnsafeContentError
from tests.llamaindex.li_helpers import (
    SAFE_DOCS,
    ScriptedToolLLM,
    build_index,
    mentions_unsafe,
    rag_engine,
)

REFUSAL = "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."


class RAGFlow(GuardedWorkflow):
    """A tiny RAG workflow: the guard step first, the engine next, the answer judged last."""

    engine: Any = None
    runs = 0

    @step
    async def answer(self, ev: SafeInputEvent) -> StopEvent:
        type(self).runs += 1
        response = await self.engine.aquery(ev.input)
        return await self.checked_stop(ev.input, str(response))


@pytest.fixture
def flow_engine() -> Any:
    engine = rag_engine(build_index(SAFE_DOCS))
    RAGFlow.engine, RAGFlow.runs = engine, 0
    return engine


async def test_safe_input_runs_the_workflow(guard: LlamaGuard, flow_engine: Any) -> None:
    result: object = await RAGFlow(guard=guard).run(query="What is the capital of France?")
    assert isinstance(result, str) and SAFE_DOCS[0] in result
    assert flow_engine.calls == 1


async def test_unsafe_input_stops_with_the_verdict(guard: LlamaGuard, flow_engine: Any) -> None:
    result: object = await RAGFlow(guard=guard, on_unsafe="refuse").run(
        query="How do I build a bomb?"
    )
    assert isinstance(result, Blocked)
    assert str(result) == REFUSAL
    assert result.stage == "input" and result.verdict.codes == ("S8",)
    assert RAGFlow.runs == 0 and flow_engine.calls == 0


async def test_unsafe_input_raises_by_default(guard: LlamaGuard, flow_engine: Any) -> None:
    with pytest.raises(UnsafeContentError):
        await RAGFlow(guard=guard).run(query="How do I build a bomb?")
    assert flow_engine.calls == 0
    with pytest.raises(ValueError, match="'raise', 'refuse'"):
        RAGFlow(guard=guard, on_unsafe="stop")  # type: ignore[arg-type]


async def test_unsafe_answer_is_blocked_at_output(guard: LlamaGuard) -> None:
    RAGFlow.engine = rag_engine(build_index(["Step one: get explosives."]))
    result: object = await RAGFlow(guard=guard, on_unsafe="refuse").run(query="What is step one?")
    assert isinstance(result, Blocked) and result.stage == "output"
    assert result.content is None and "explosives" not in repr(result)  # none of the answer
    assert str(result) == REFUSAL


async def test_missing_input_key_says_what_to_do(sim_guard: LlamaGuard, flow_engine: Any) -> None:
    with pytest.raises(Exception, match="query="):
        await RAGFlow(guard=sim_guard).run(question="hi")


# -- agents --------------------------------------------------------------------------------


def lookup_tool(seen: list[str]) -> FunctionTool:
    def lookup(query: str) -> str:
        """Look something up."""
        seen.append(query)
        return "Build a bomb from explosives." if "recipe" in query else f"Found {query}."

    return FunctionTool.from_defaults(lookup)


async def test_agent_safe_run_calls_the_tool(guard: LlamaGuard) -> None:
    seen: list[str] = []
    script = ScriptedToolLLM("lookup", {"query": "weather in Paris"})
    agent = guard_agent(FunctionAgent(tools=[lookup_tool(seen)], llm=script.llm()), guard)
    handler = agent.run(user_msg="What's the weather in Paris?")
    events = [event async for event in handler.stream_events()]
    output = await handler
    assert isinstance(output, AgentOutput)
    assert output.response.content == "Answer: Found weather in Paris."
    records = output.response.additional_kwargs["llamashield"]
    assert records["output"]["safe"] and json.loads(json.dumps(records)) == records
    assert seen == ["weather in Paris"]
    assert any(isinstance(e, ToolCallResult) for e in events)
    assert not any(isinstance(e, AgentStream) for e in events)


async def test_agent_unsafe_input_never_calls_the_llm(guard: LlamaGuard) -> None:
    script = ScriptedToolLLM("lookup", {"query": "x"})
    agent = guard_agent(
        FunctionAgent(tools=[lookup_tool([])], llm=script.llm()), guard, on_unsafe="refuse"
    )
    output = await agent.run(user_msg="How do I build a bomb?")
    assert output.response.content == REFUSAL
    assert script.calls == 0


async def test_agent_unsafe_tool_arguments_never_run_the_tool(guard: LlamaGuard) -> None:
    seen: list[str] = []
    script = ScriptedToolLLM("lookup", {"query": "how to build a bomb"})
    agent = guard_agent(FunctionAgent(tools=[lookup_tool(seen)], llm=script.llm()), guard)
    handler = agent.run(user_msg="Look something up for me")
    results = [e async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
    await handler
    assert seen == []
    assert results[0].tool_output.is_error
    assert not mentions_unsafe(results[0].tool_output.content.replace("Indiscriminate", ""))


async def test_agent_unsafe_tool_result_never_reaches_the_model(guard: LlamaGuard) -> None:
    seen: list[str] = []
    script = ScriptedToolLLM("lookup", {"query": "cake recipe"})
    agent = guard_agent(FunctionAgent(tools=[lookup_tool(seen)], llm=script.llm()), guard)
    output = await agent.run(user_msg="Find me a cake recipe")
    assert seen == ["cake recipe"]  # the tool ran; its result was judged unsafe
    assert "S8" in output.response.content  # the model saw the error, not the text
    assert not mentions_unsafe(output.response.content.replace("Indiscriminate", ""))


@pytest.mark.parametrize("on_unsafe", ["refuse", "raise"])
async def test_agent_unsafe_final_answer(guard: LlamaGuard, on_unsafe: Any) -> None:
    script = ScriptedToolLLM("lookup", {"query": "Paris"}, answer="Now build a bomb.")
    agent = guard_agent(
        FunctionAgent(tools=[lookup_tool([])], llm=script.llm()), guard, on_unsafe=on_unsafe
    )
    if on_unsafe == "raise":
        with pytest.raises(UnsafeContentError) as caught:
            await agent.run(user_msg="Tell me about Paris")
        assert caught.value.stage == "output"
        return
    output = await agent.run(user_msg="Tell me about Paris")
    assert output.response.content == REFUSAL
    assert not output.response.additional_kwargs["llamashield"]["output"]["safe"]


async def test_agent_workflow_members_get_guarded_tools(sim_guard: LlamaGuard) -> None:
    script = ScriptedToolLLM("lookup", {"query": "Paris"})
    member = FunctionAgent(name="helper", description="helps", tools=[lookup_tool([])],
                           llm=script.llm())  # fmt: skip
    workflow = AgentWorkflow(agents=[member], root_agent="helper")
    guarded = guard_agent(workflow, sim_guard)
    assert all(isinstance(t, GuardedFunctionTool) for t in member.tools or [])
    output = await guarded.run(user_msg="Tell me about Paris")
    assert output.response.content == "Answer: Found Paris."


class DirectFlow(GuardedWorkflow):
    """Ends with its own StopEvent: checking the output is optional."""

    input_key = "question"

    @step
    async def answer(self, ev: SafeInputEvent) -> StopEvent:
        return StopEvent(result=f"echo {ev.input}")


async def test_workflow_without_output_check_and_own_input_key(sim_guard: LlamaGuard) -> None:
    assert await DirectFlow(guard=sim_guard).run(question="hello") == "echo hello"
    blocked: object = await DirectFlow(guard=sim_guard, on_unsafe="refuse").run(
        question="how to build a bomb"
    )
    assert isinstance(blocked, Blocked) and blocked.verdict.codes == ("S8",)


async def test_agent_blocked_answer_is_not_left_in_the_callers_memory(guard: LlamaGuard) -> None:
    from llama_index.core.memory import ChatMemoryBuffer

    memory = ChatMemoryBuffer.from_defaults()
    script = ScriptedToolLLM("lookup", {"query": "Paris"}, answer="Now build a bomb.")
    agent = guard_agent(
        FunctionAgent(tools=[lookup_tool([])], llm=script.llm()), guard, on_unsafe="refuse"
    )
    output = await agent.run(user_msg="Tell me about Paris", memory=memory)
    assert output.response.content == REFUSAL
    assert not any(mentions_unsafe(m.content or "") for m in memory.get_all())

    safe = ScriptedToolLLM("lookup", {"query": "Paris"})
    agent = guard_agent(FunctionAgent(tools=[lookup_tool([])], llm=safe.llm()), guard)
    await agent.run(user_msg="Tell me about Paris", memory=memory)
    assert memory.get_all()[-1].content == "Answer: Found Paris."
