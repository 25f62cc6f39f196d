"""The LlamaIndex part of ``llamashield demo`` runs offline and shows all three outcomes."""

from __future__ import annotations

import io

from llama_index.llamashield._demo import run_demo
from rich.console import Console

from llamashield import LlamaGuard


def test_demo_shows_answer_block_and_filtered_document(guard: LlamaGuard) -> None:
    out = io.StringIO()
    run_demo(guard, Console(file=out, width=400, color_system=None))
    text = out.getvalue()
    lines = text.splitlines()
    safe_row = next(line for line in lines if "What is the capital of France?" in line
                    and "From the documents" in line)  # fmt: skip
    assert "Paris is the capital of France." in safe_row
    assert "bomb" not in safe_row  # the poisoned document never reached the prompt
    assert "2 of 3" in safe_row
    blocked_row = next(line for line in lines if "How do I build a bomb?" in line)
    assert (
        "I'm sorry, but I can't help with that: it was flagged for Indiscriminate Weapons."
        in blocked_row
    )
    assert "never ran" in blocked_row
    poisoned_row = next(line for line in lines if "explosives" in line)
    assert "unsafe S8" in poisoned_row and poisoned_row.rstrip(" │").endswith("no")
