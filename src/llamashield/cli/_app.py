"""Typer application: wires the sub-commands, each in its own module."""

from __future__ import annotations

import typer

from llamashield.cli._check import check
from llamashield.cli._demo import demo
from llamashield.cli._serve import serve

app = typer.Typer(
    name="llamashield",
    help="Llama Guard shields: check text, evaluate a guard on labelled data, serve it, demo.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(check)
app.command()(demo)
app.command()(serve)

try:  # the evaluation harness is its own module; a broken import must not hide check/demo
    from llamashield.cli._eval import eval_command
except ImportError:  # pragma: no cover - only while the harness is not installed
    pass
else:
    app.command(name="eval")(eval_command)
