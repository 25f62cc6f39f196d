"""``llamashield check TEXT``: print the verdict; exit 1 when unsafe, 2 on a guard error."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llamashield._exceptions import LlamaShieldError
from llamashield.cli._backend_options import (
    BackendName,
    BackendOption,
    BaseUrlOption,
    ModelOption,
    make_guard,
)


def check(
    text: Annotated[str, typer.Argument(help="The text to judge (a user message).")],
    response: Annotated[
        str | None, typer.Option(help="An assistant answer to judge as the Agent turn.")
    ] = None,
    backend: BackendOption = BackendName.auto,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Judge TEXT (and optionally a RESPONSE to it) with Llama Guard."""
    console = Console()
    try:
        guard = make_guard(backend, model, base_url)
    except (ValueError, ImportError, LlamaShieldError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)  # one line
        raise typer.Exit(2) from None
    conversation: list[dict[str, str]] = [{"role": "user", "content": text}]
    if response is not None:
        conversation.append({"role": "assistant", "content": response})
    with guard:  # its HTTP client's keep-alive connection closes before the process exits
        verdict = guard.check(conversation)
    if json_output:
        print(verdict.model_dump_json())
    else:
        style = "green" if verdict.safe else "red"
        console.print(f"[{style}]{verdict}[/{style}]  [dim]({verdict.model}, "
                      f"{verdict.latency_ms:.0f} ms)[/dim]")  # fmt: skip
    if verdict.error and not verdict.safe:
        raise typer.Exit(2)
    raise typer.Exit(0 if verdict.safe else 1)
