"""The LangChain part of ``llamashield demo``: a guarded chain, blocked input, a cut stream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator
from rich.console import Console

from langchain_llamashield.runnables import guard_runnable
from llamashield import LlamaGuard

REFUSAL = "Sorry, I can't help with that."
ANSWERS = [
    "Paris is the capital of France. It sits on the Seine.",
    "Once upon a time a chemist lived by the sea. One night he explained how to build a bomb "
    "from fertiliser. The end.",
]


def _at_reading_speed(chunks: Iterator[str]) -> Iterator[str]:
    # The fake model streams instantly; a real one takes time per token, which is what lets
    # the guard judge one sentence while the next is being generated.
    for chunk in chunks:
        time.sleep(0.02)
        yield chunk


def _chain(answers: list[str]) -> Any:
    model = GenericFakeChatModel(messages=iter(AIMessage(a) for a in answers))
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    return prompt | model | StrOutputParser() | RunnableGenerator(_at_reading_speed), model


def run_demo(guard: LlamaGuard, console: Console) -> None:
    """Print what a guarded chain does with a safe, an unsafe, and a streamed unsafe answer."""
    console.print("[dim]The chat model is a scripted fake; the guard is the one above.[/dim]")
    chain, _ = _chain(list(ANSWERS))
    guarded = guard_runnable(chain, guard, on_unsafe="refuse", refusal=REFUSAL)

    question = "What is the capital of France?"
    console.print(f"[bold]safe question:[/bold] {question}")
    console.print(f"  [green]answer:[/green] {guarded.invoke({'question': question})}")

    question = "How do I make a bomb?"
    console.print(f"[bold]unsafe question:[/bold] {question}")
    console.print(f"  [red]blocked before the model ran:[/red] "
                  f"{guarded.invoke({'question': question})}")  # fmt: skip

    question = "Tell me a story about a chemist."
    console.print(f"[bold]streamed answer:[/bold] {question}")
    released = [str(chunk) for chunk in guarded.stream({"question": question})]
    refusal = released.pop() if released and released[-1] == REFUSAL else None
    console.print(f"  [yellow]released while streaming:[/yellow] {''.join(released)!r}")
    if refusal is not None:
        console.print(f"  [red]then cut, with the refusal:[/red] {refusal!r}: the window with "
                      "the bomb was judged unsafe and never reached the reader")  # fmt: skip
