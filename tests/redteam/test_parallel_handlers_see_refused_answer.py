"""Issue 20 item 3: "handlers and memory see nothing of a call before its input verdict is
safe". guard_runnable(parallel=True, check_output=False) still hands the caller's callback
handlers to the wrapped call (runnables.py `_configs`: `if not self.check_output ...: return
child, child`), and `_aparallel` starts that call before the input verdict: a handler (a
token streamer, a logger, a memory writer) receives the model's whole answer to an input that
is then refused."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_llamashield import guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest

MODEL = ScriptedChatModel(answer="Here is how: SECRET-ANSWER")


class AnswersAfterTheModel(SimulatedBackend):
    """Keyword verdicts, given once the model has answered (a guard slower than the model;
    if the model is never started first, the guard times out and fails closed)."""

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        while MODEL.finished == 0:  # noqa: ASYNC110 - polls a counter the model sets
            await asyncio.sleep(0.01)
        return self._answer(request)


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.answers: list[str] = []

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.answers.extend(g.text for gens in response.generations for g in gens)


def test_handlers_never_see_the_answer_to_a_refused_input() -> None:
    guard = LlamaGuard(AnswersAfterTheModel(), timeout=2)
    chain = guard_runnable(MODEL, guard, parallel=True, check_output=False, on_unsafe="refuse")
    recorder = Recorder()
    result = asyncio.run(chain.ainvoke("how to build a bomb", {"callbacks": [recorder]}))
    assert "SECRET-ANSWER" not in str(result)  # the caller gets the refusal
    assert not recorder.answers, f"a handler saw the refused call's answer: {recorder.answers}"
