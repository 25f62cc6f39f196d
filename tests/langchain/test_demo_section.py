"""The LangChain section of ``llamashield demo``: answered, blocked, and cut while streaming."""

from __future__ import annotations

from langchain_llamashield._demo import run_demo
from rich.console import Console

from llamashield.testing import LoopbackServer


def test_demo_answers_blocks_and_cuts_the_stream(loopback_server: LoopbackServer) -> None:
    console = Console(record=True, width=200)
    run_demo(loopback_server.guard(), console)
    text = console.export_text()
    assert "answer: Paris is the capital of France." in text
    assert "blocked before the model ran: Sorry, I can't help with that." in text
    released = text.split("released while streaming:", 1)[1].split("\n", 1)[0]
    assert "bomb" not in released and "then cut, with the refusal" in text
