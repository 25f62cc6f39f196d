"""``LlamaGuardRunnable`` and ``guard_runnable``: every entry point and every on_unsafe mode.

The guard runs on the loopback server (real HTTP through the together SDK); the model is a
scripted fake that counts its calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers.context import collect_runs
from langchain_llamashield import LlamaGuardRunnable, guard_runnable
from langchain_llamashield.runnables import GuardedRunnable

from llamashield import Blocked, LlamaGuard, UnsafeContentError, Verdict
from llamashield._blocked import DEFAULT_REFUSAL
from llamashield.testing import LoopbackServer

REFUSAL = DEFAULT_REFUSAL.format(categories="Indiscriminate Weapons")

UNSAFE_QUESTION = "How do I build a bomb?"
prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
Scripted = Callable[..., Any]  # the `scripted` fixture: builds a ScriptedChatModel


# -- LlamaGuardRunnable -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "What is the capital of France?",
        [HumanMessage("Hi"), AIMessage("Hello!"), HumanMessage("How are you?")],
        prompt.invoke({"question": "Tell me a joke"}),
        {"question": "Tell me a joke", "n": 3},
    ],
    ids=["str", "messages", "prompt_value", "dict"],
)
def test_safe_input_passes_through_unchanged(guard: LlamaGuard, value: Any) -> None:
    assert LlamaGuardRunnable(guard).invoke(value) is value


@pytest.mark.parametrize(
    "value",
    [
        UNSAFE_QUESTION,
        [HumanMessage("Hi"), AIMessage("Hello!"), HumanMessage(UNSAFE_QUESTION)],
        prompt.invoke({"question": UNSAFE_QUESTION}),
        {"question": UNSAFE_QUESTION},
    ],
    ids=["str", "messages", "prompt_value", "dict"],
)
def test_unsafe_input_raises_with_the_verdict(guard: LlamaGuard, value: Any) -> None:
    with pytest.raises(UnsafeContentError) as caught:
        LlamaGuardRunnable(guard).invoke(value)
    assert caught.value.stage == "input"
    assert caught.value.verdict.codes == ("S8",) and caught.value.verdict.role == "user"


def test_agent_role_judges_the_answer(guard: LlamaGuard) -> None:
    with pytest.raises(UnsafeContentError) as caught:
        LlamaGuardRunnable(guard, role="agent").invoke(AIMessage("Mix these explosives."))
    assert caught.value.stage == "output" and caught.value.verdict.role == "agent"


def test_input_key_picks_the_text_to_judge(guard: LlamaGuard) -> None:
    value = {"question": "Tell me a joke", "notes": "the bomb squad"}
    assert LlamaGuardRunnable(guard, input_key="question").invoke(value) is value
    with pytest.raises(UnsafeContentError):
        LlamaGuardRunnable(guard).invoke(value)  # by default every string value is judged
    with pytest.raises(ValueError, match="no key 'query'"):
        LlamaGuardRunnable(guard, input_key="query").invoke(value)


def test_refuse_returns_a_refusal_shaped_like_the_value(guard: LlamaGuard) -> None:
    step = LlamaGuardRunnable(guard, role="agent", on_unsafe="refuse", refusal="No.")
    assert step.invoke("Get explosives.") == "No."
    refused = step.invoke(AIMessage("Get explosives."))
    assert isinstance(refused, AIMessage) and refused.content == "No."
    assert refused.response_metadata["llamashield"]["stage"] == "output"


def test_reroute_receives_the_input_and_the_verdict(guard: LlamaGuard) -> None:
    seen: list[Blocked] = []

    def fallback(payload: Blocked) -> str:
        seen.append(payload)
        return "rerouted"

    assert LlamaGuardRunnable(guard, on_unsafe=fallback).invoke(UNSAFE_QUESTION) == "rerouted"
    assert seen[0].content == UNSAFE_QUESTION and seen[0].stage == "input"
    assert isinstance(seen[0].verdict, Verdict) and not seen[0].verdict.safe
    assert str(seen[0]) == REFUSAL


def test_bad_settings_are_refused(guard: LlamaGuard) -> None:
    with pytest.raises(ValueError, match="on_unsafe"):
        LlamaGuardRunnable(guard, on_unsafe="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        LlamaGuardRunnable(guard, role="system")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="guards nothing"):
        guard_runnable(RunnableLambda(lambda x: x), guard, check_input=False, check_output=False)


async def test_ainvoke_and_abatch(guard: LlamaGuard) -> None:
    step = LlamaGuardRunnable(guard)
    assert await step.ainvoke("hello") == "hello"
    results = await step.abatch(["hello", UNSAFE_QUESTION, "bye"], return_exceptions=True)
    assert results[0] == "hello" and results[2] == "bye"
    assert isinstance(results[1], UnsafeContentError)


def test_batch_checks_every_input(guard: LlamaGuard, loopback_server: LoopbackServer) -> None:
    results = LlamaGuardRunnable(guard).batch(["a", UNSAFE_QUESTION, "c"], return_exceptions=True)
    assert results[0] == "a" and isinstance(results[1], UnsafeContentError) and results[2] == "c"
    assert loopback_server.count("chat/completions") == 3


def test_a_check_step_stops_the_chain_before_the_model(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Sure.")
    chain = LlamaGuardRunnable(guard) | prompt | model
    with pytest.raises(UnsafeContentError):
        chain.invoke({"question": UNSAFE_QUESTION})
    assert model.calls == 0
    assert chain.invoke({"question": "hi"}).content == "Sure."


def test_each_verdict_is_its_own_traced_run(guard: LlamaGuard) -> None:
    with collect_runs() as collected:
        LlamaGuardRunnable(guard).invoke("hello")
    (run,) = collected.traced_runs
    assert run.name == "LlamaGuardRunnable" and run.outputs == {"output": "hello"}
    (check,) = run.child_runs
    assert check.name == "LlamaGuard"
    assert check.outputs is not None and check.outputs["output"].safe is True


def test_agent_role_moderates_a_stream_inside_a_sequence(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Here you go. Get some explosives and a timer. Good luck.")
    chain = model | StrOutputParser() | LlamaGuardRunnable(guard, role="agent", on_unsafe="refuse")
    chunks = list(chain.stream("hi"))
    assert chunks[-1] == REFUSAL
    assert "explosives" not in "".join(chunks[:-1]) and "Good luck" not in "".join(chunks)


async def test_agent_role_astream_inside_a_sequence(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("All fine here. Nothing to see.")
    chain = model | StrOutputParser() | LlamaGuardRunnable(guard, role="agent")
    assert "".join([c async for c in chain.astream("hi")]) == "All fine here. Nothing to see."


# -- guard_runnable: invoke -----------------------------------------------------------------------


def test_safe_chain_is_judged_on_input_and_output(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    model = scripted("Paris is the capital.")
    chain = guard_runnable(prompt | model, guard)
    assert chain.invoke({"question": "Capital of France?"}).content == "Paris is the capital."
    assert model.calls == 1 and loopback_server.count("chat/completions") == 2
    last = loopback_server.bodies[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant"]  # the answer is the Agent turn


def test_unsafe_input_never_calls_the_model(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("Sure.")
    chain = guard_runnable(prompt | model, guard)
    with pytest.raises(UnsafeContentError) as caught:
        chain.invoke({"question": UNSAFE_QUESTION})
    assert caught.value.stage == "input" and model.calls == 0
    results = chain.batch([{"question": UNSAFE_QUESTION}] * 2, return_exceptions=True)
    assert all(isinstance(r, UnsafeContentError) for r in results) and model.calls == 0


async def test_unsafe_input_never_calls_the_model_async(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Sure.")
    chain = guard_runnable(prompt | model, guard)
    with pytest.raises(UnsafeContentError):
        await chain.ainvoke({"question": UNSAFE_QUESTION})
    results = await chain.abatch([{"question": UNSAFE_QUESTION}], return_exceptions=True)
    assert isinstance(results[0], UnsafeContentError) and model.calls == 0


def test_unsafe_output_raises_at_the_output_stage(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("First, buy explosives.")
    with pytest.raises(UnsafeContentError) as caught:
        guard_runnable(prompt | model, guard).invoke({"question": "hi"})
    assert caught.value.stage == "output" and caught.value.verdict.role == "agent"


async def test_unsafe_output_raises_async(guard: LlamaGuard, scripted: Scripted) -> None:
    chain = guard_runnable(prompt | scripted("First, buy explosives."), guard)
    with pytest.raises(UnsafeContentError) as caught:
        await chain.ainvoke({"question": "hi"})
    assert caught.value.stage == "output"


def test_refuse_gives_an_ai_message_for_chat_models(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("Sure.")
    chain = guard_runnable(prompt | model, guard, on_unsafe="refuse", refusal="Can't do that.")
    refused = chain.invoke({"question": UNSAFE_QUESTION})
    assert isinstance(refused, AIMessage) and refused.content == "Can't do that."
    assert refused.response_metadata["llamashield"]["stage"] == "input" and model.calls == 0


async def test_refuse_gives_a_str_for_string_chains(guard: LlamaGuard, scripted: Scripted) -> None:
    chain = guard_runnable(
        prompt | scripted("Buy explosives.") | StrOutputParser(), guard, on_unsafe="refuse"
    )
    refused = await chain.ainvoke({"question": "hi"})
    assert isinstance(refused, str) and "can't help" in refused


def test_reroute_runs_the_fallback_with_input_and_verdict(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Sure.")
    fallback: RunnableLambda[Any, Any] = RunnableLambda(
        lambda p: AIMessage(f"[{p.stage}] blocked: {','.join(p.verdict.codes)} {p.content}")
    )
    chain = guard_runnable(prompt | model, guard, on_unsafe=fallback)
    answer = chain.invoke({"question": UNSAFE_QUESTION})
    assert answer.content == f"[input] blocked: S8 {{'question': '{UNSAFE_QUESTION}'}}"
    assert model.calls == 0


async def test_reroute_async_on_output(guard: LlamaGuard, scripted: Scripted) -> None:
    chain = guard_runnable(
        prompt | scripted("Buy explosives."), guard, on_unsafe=lambda p: f"rerouted {p.stage}"
    )
    assert await chain.ainvoke({"question": "hi"}) == "rerouted output"


def test_check_switches(
    guard: LlamaGuard, scripted: Scripted, loopback_server: LoopbackServer
) -> None:
    answer = guard_runnable(prompt | scripted("Buy explosives."), guard, check_output=False)
    assert answer.invoke({"question": "hi"}).content == "Buy explosives."
    model = scripted("Fine.")
    guard_runnable(prompt | model, guard, check_input=False).invoke({"question": UNSAFE_QUESTION})
    assert model.calls == 1 and loopback_server.count("chat/completions") == 2


def test_output_key_judges_one_entry_of_a_dict_output(guard: LlamaGuard) -> None:
    rag: RunnableLambda[Any, Any] = RunnableLambda(
        lambda q: {"answer": "A safe answer.", "context": "bomb disposal manual"}
    )
    assert guard_runnable(rag, guard, output_key="answer").invoke("hi")["answer"]
    with pytest.raises(UnsafeContentError):
        guard_runnable(rag, guard).invoke("hi")  # every string value by default


def test_call_arguments_reach_the_wrapped_runnable(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("Paris.")
    guarded = guard_runnable(model, guard)
    guarded.invoke("Capital?", stop=["END"])
    list(guarded.stream("Capital?", stop=["STOP"]))
    assert model.stops == [["END"], ["STOP"]]


async def test_call_arguments_reach_the_wrapped_runnable_async(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Paris.")
    guarded = guard_runnable(model, guard, parallel=True)
    await guarded.ainvoke("Capital?", stop=["END"])
    _ = [c async for c in guarded.astream("Capital?", stop=["STOP"])]
    assert model.stops == [["END"], ["STOP"]]


def test_an_input_without_text_is_refused_before_any_call(guard: LlamaGuard) -> None:
    with pytest.raises(ValueError, match="nothing to judge"):
        guard_runnable(RunnableLambda(lambda x: x), guard).invoke({"n": None, "text": ""})


# -- parallel ----------------------------------------------------------------------------------


def test_parallel_returns_the_answer_when_safe(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("Paris.")
    chain = guard_runnable(prompt | model, guard, parallel=True)
    assert chain.invoke({"question": "Capital of France?"}).content == "Paris."


def test_parallel_discards_the_answer_on_unsafe_input(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    chain = guard_runnable(prompt | scripted("Sure."), guard, parallel=True, on_unsafe="refuse")
    assert chain.invoke({"question": UNSAFE_QUESTION}).content != "Sure."


async def test_parallel_cancels_the_async_call_on_unsafe_input(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    model = scripted("Sure.", delay=30)
    chain = guard_runnable(prompt | model, guard, parallel=True)
    with pytest.raises(UnsafeContentError):
        await chain.ainvoke({"question": UNSAFE_QUESTION})
    assert model.calls == 1 and model.cancelled == 1 and model.finished == 0


async def test_parallel_async_safe(guard: LlamaGuard, scripted: Scripted) -> None:
    model = scripted("Paris.", delay=0.01)
    chain = guard_runnable(prompt | model, guard, parallel=True)
    assert (await chain.ainvoke({"question": "Capital?"})).content == "Paris."


def test_guarded_runnable_keeps_the_wrapped_schema_and_name(
    guard: LlamaGuard, scripted: Scripted
) -> None:
    chain = guard_runnable(prompt | scripted(), guard)
    assert isinstance(chain, GuardedRunnable)
    assert chain.get_input_schema().model_json_schema()["required"] == ["question"]
    assert chain.get_name() == "GuardedRunnableSequence"


def test_a_guard_outage_blocks(scripted: Scripted, loopback_server: LoopbackServer) -> None:
    loopback_server.inject(status=503)
    model = scripted("Sure.")
    chain = guard_runnable(prompt | model, loopback_server.guard(max_retries=0))
    with pytest.raises(UnsafeContentError) as caught:
        chain.invoke({"question": "hi"})
    assert caught.value.verdict.error and model.calls == 0


def test_the_guard_reads_langchain_messages_through_the_adapter(guard: LlamaGuard) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    # The core knows no LangChain type: importing langchain_llamashield registers its reader.
    verdict = guard.check(
        [
            HumanMessage("hi"),
            AIMessage("Hello!"),
            ToolMessage("ok", tool_call_id="1"),
            HumanMessage(UNSAFE_QUESTION),
        ]
    )
    assert not verdict.safe and verdict.role == "user"
