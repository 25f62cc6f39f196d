"""GuardedWorkflow(on_unsafe="refuse"): `checked_stop(question, answer)` with an unsafe answer
ends the run with `StopEvent(result=Blocked(...))` (workflow.py `GuardedWorkflow._judged`:
`{"refuse": lambda blocked: StopEvent(result=blocked)}`), and that Blocked carries the blocked
answer itself as `.content`. The run's result is what the workflow's consumer receives (the
caller of `run()`, a workflow server's response): the "refusal" hands over the very answer that
was refused. `str(result)` is the refusal and `Blocked.to_dict()` leaves the content out, so
the intent is clear; the object still holds it. (For the input stage the content is the
caller's own question, which is harmless; this test is about the answer.)"""

from __future__ import annotations

import asyncio

from llama_index.core.workflow import StopEvent, step
from llama_index.llamashield import GuardedWorkflow, SafeInputEvent

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks


class Answering(GuardedWorkflow):
    @step
    async def answer(self, ev: SafeInputEvent) -> StopEvent:
        return await self.checked_stop(ev.input, f"Sure: {TRIGGER} PAYLOAD")


def refused_run() -> object:
    guard, _ = last_turn_guard()

    async def run() -> object:
        return await Answering(guard=guard, on_unsafe="refuse").run(query="hi")

    return asyncio.run(run())


def test_control_the_answer_is_refused() -> None:
    result = refused_run()
    assert "can't help" in str(result)


def test_a_refused_answer_is_not_in_the_runs_result() -> None:
    result = refused_run()
    assert not leaks(result), repr(result)[:300]
