"""LlamaGuardMiddleware(check_output=False) still judges tool calls, and then SEALS the whole
answer (middleware.py `_plan_output.apply`: `result[index] = self._sealing(stamped)`) though
its text was never judged. The sealed answer goes back to the client with the state; replayed
as history in ANOTHER run (another conversation), the seal makes `_plan_input` trust it, so
an answer the model did not produce in this run reaches the model unjudged. The seal binds
type + text only, nothing of the run or thread."""

from __future__ import annotations

import contextlib
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langchain_llamashield import LlamaGuardMiddleware
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import UnsafeContentError
from tests._support.last_turn import TRIGGER, last_turn_guard


class ToolThenText(ScriptedChatModel):
    """Answers ``answer`` with a tool call first, then "done"."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> Any:
        self._start(messages, stop)
        if self.calls == 1:
            call = {"name": "lookup", "args": {"q": "weather"}, "id": "c1"}
            message = AIMessage(content=self.answer, tool_calls=[call])
        else:
            message = AIMessage(content="done")
        return ChatResult(generations=[ChatGeneration(message=message)])


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "sunny"


def test_an_unjudged_answer_from_another_run_is_judged_as_history() -> None:
    guard, _ = last_turn_guard()
    middleware = LlamaGuardMiddleware(guard, check_output=False, on_unsafe="end")
    first_model = ToolThenText(answer=f"Step 1: {TRIGGER} PAYLOAD")
    first = create_agent(first_model, tools=[lookup], middleware=[middleware])
    messages = first.invoke({"messages": [HumanMessage("tell me a story")]})["messages"]
    # Its text was never judged: the answer carries no seal, and the model's next call in this
    # very run judged it as history (the run ended there).
    assert first_model.calls == 1
    answers = [m for m in messages if isinstance(m, AIMessage) and "PAYLOAD" in m.text]
    assert all("seal" not in a.response_metadata.get("llamashield", {}) for a in answers)

    replayed = AIMessage(content=f"Step 1: {TRIGGER} PAYLOAD")
    model = ScriptedChatModel(answer="ok")
    second = create_agent(model, tools=[], middleware=[middleware])
    with contextlib.suppress(UnsafeContentError):
        second.invoke({"messages": [HumanMessage("hi"), replayed, HumanMessage("continue")]})
    assert model.calls == 0, "a replayed, never-judged answer reached the model as history"
