"""``llamashield serve``: the guard as OpenAI's moderation API (needs ``llamashield[serve]``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from llamashield._exceptions import LlamaShieldError


def serve(
    config: Annotated[
        Path | None, typer.Option(help="A .toml or .json file of settings (flags win).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="together, openai (a compatible server), transformers or simulated."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="The Llama Guard model id.")] = None,
    base_url: Annotated[str | None, typer.Option(help="The backend's URL.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [8000].")] = None,
    cache: Annotated[
        str | None, typer.Option(help="memory, none, or a redis:// URL shared by replicas.")
    ] = None,
    api_keys_file: Annotated[
        Path | None, typer.Option(help="Accepted keys, one a line: plain, or sha256:<hex>.")
    ] = None,
    no_auth: Annotated[
        bool | None, typer.Option("--no-auth", help="Serve without API keys (loopback only).")
    ] = None,
    categories: Annotated[
        list[str] | None, typer.Option("--category", help="A code or name that blocks (repeat).")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="Block when P(unsafe) >= this.")] = None,
    on_error: Annotated[str | None, typer.Option(help="block, allow or raise (503).")] = None,
    max_body_bytes: Annotated[int | None, typer.Option(help="Request body limit [1 MiB].")] = None,
    max_batch: Annotated[int | None, typer.Option(help="Inputs per request [32].")] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Requests judged at once; more get 429 [64].")
    ] = None,
    deadline: Annotated[float | None, typer.Option(help="Seconds per request [30].")] = None,
    hash_key: Annotated[
        str | None, typer.Option(help="Print the sha256 form of KEY for api_key_hashes and exit.")
    ] = None,
) -> None:
    """Serve the guard as OpenAI's /v1/moderations (+ /v1/llamaguard/check, /healthz, /metrics)."""
    console = Console(stderr=True)
    try:
        from llamashield.serve import create_app, load_config
        from llamashield.serve import hash_key as hash_key_fn
    except ImportError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    if hash_key is not None:
        print(hash_key_fn(hash_key))
        return
    flags: dict[str, Any] = {
        "backend": backend, "model": model, "base_url": base_url, "host": host, "port": port,
        "cache": cache, "api_keys_file": api_keys_file, "no_auth": no_auth,
        "categories": categories or None, "threshold": threshold, "on_error": on_error,
        "max_body_bytes": max_body_bytes, "max_batch": max_batch,
        "max_concurrency": max_concurrency, "deadline": deadline,
    }  # fmt: skip
    try:
        settings = load_config(config).with_overrides(flags)
        app = create_app(settings)
    except (ValueError, ImportError, LlamaShieldError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)  # one line
        raise typer.Exit(2) from None
    import uvicorn

    # uvicorn's access log is off: the service logs each request itself, without content.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False,
                log_config=_log_config())  # fmt: skip


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with the service's own request lines (no content) beside it."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["llamashield"] = {"handlers": ["default"], "level": "INFO",
                                        "propagate": False}  # fmt: skip
    return config
