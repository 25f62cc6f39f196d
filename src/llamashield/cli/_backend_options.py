"""Build a guard from command-line options: the simulator, Together, a server, or local."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from llamashield._exceptions import NO_BACKEND, ConfigurationError
from llamashield._guard import LlamaGuard
from llamashield.backends._base import Backend


class BackendName(StrEnum):
    auto = "auto"
    simulated = "simulated"
    together = "together"
    openai = "openai"
    transformers = "transformers"


# The options every command that builds a guard takes (``check``, ``eval``): declared once so
# their names, help and defaults stay the same across commands.
BackendOption = Annotated[
    BackendName,
    typer.Option(help="Where Llama Guard runs (auto: Together when TOGETHER_API_KEY is set)."),
]
ModelOption = Annotated[str | None, typer.Option(help="Model id, or a folder for transformers.")]
BaseUrlOption = Annotated[str | None, typer.Option(help="Server URL (together, openai).")]


def make_backend(
    name: BackendName, model: str | None, base_url: str | None, *, scores: bool = False
) -> Backend:
    """``auto`` is Together when TOGETHER_API_KEY is set; with no key and no backend named it
    is a ``ConfigurationError`` naming the ways to configure one. The keyword simulator runs
    only when asked for by name: a script gating on ``check`` must never pass everything that
    lacks a trigger word because a key was missing.

    ``scores=True`` builds a backend that gives scores where it can choose (Together leaves
    logprobs off by default, since a plain check does not need them); the others always ask
    for them (the OpenAI-compatible one by default) or compute them."""
    if name is BackendName.auto:
        if not os.environ.get("TOGETHER_API_KEY"):
            raise ConfigurationError(NO_BACKEND)
        name = BackendName.together
    if name is BackendName.simulated:
        from llamashield.backends.simulated import SimulatedBackend

        return SimulatedBackend()
    if name is BackendName.together:
        from llamashield.backends.together import TogetherBackend

        return TogetherBackend(
            model=model or "meta-llama/LlamaGuard-2-8b", base_url=base_url, logprobs=scores
        )
    if name is BackendName.openai:
        from llamashield.backends.openai_compatible import OpenAICompatibleBackend

        if not base_url or not model:
            raise ValueError("--backend openai needs --base-url and --model")
        return OpenAICompatibleBackend(base_url=base_url, model=model)
    from llamashield.backends.transformers import TransformersBackend

    if not model:
        raise ValueError("--backend transformers needs --model (a local folder or model id)")
    return TransformersBackend(model=model)


def make_guard(
    name: BackendName,
    model: str | None,
    base_url: str | None,
    *,
    scores: bool = False,
    **policy: object,
) -> LlamaGuard:
    """The guard, warmed up: the latencies a command prints are those of every later check,
    not the first one's SDK imports and client set-up. ``scores``: see ``make_backend``."""
    backend = make_backend(name, model, base_url, scores=scores)
    guard = LlamaGuard(backend, **policy)  # type: ignore[arg-type]
    guard.warm_up()
    return guard
