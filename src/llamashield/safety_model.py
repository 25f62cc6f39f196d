"""Together's server-side ``safety_model``: the parameter, built from a guard or a model id.

Together's chat and text completions accept ``safety_model="meta-llama/LlamaGuard-2-8b"`` on a
*generation* request: Together moderates that generation with Llama Guard on its side, in the
same round trip. It runs the model's default policy: no category subset, no threshold, no
custom categories, and the client gets no categories or score back. These helpers build the
parameter so that it names the same Llama Guard generation as the guard you run on the client,
and refuse (``ConfigurationError``) a guard whose policy the server cannot apply.

Example::

    from langchain_together import ChatTogether
    from llamashield import LlamaGuard
    from llamashield.safety_model import safety_model_body

    guard = LlamaGuard()                                      # client-side, categories + score
    llm = ChatTogether(model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
                       extra_body=safety_model_body(guard))   # server-side, same model

See docs/together-safety-model.md for when to use which, and how they combine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llamashield._exceptions import ConfigurationError
from llamashield._taxonomy import taxonomy_for_model

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["TOGETHER_SAFETY_MODELS", "safety_model_body", "safety_model_id"]

# Together's model ids per Llama Guard generation (the seed's model is the default).
TOGETHER_SAFETY_MODELS: dict[int, str] = {
    2: "meta-llama/LlamaGuard-2-8b",
    3: "meta-llama/Meta-Llama-Guard-3-8B",
    4: "meta-llama/Llama-Guard-4-12B",
}
_GENERATION_NAMES = ("guard-2", "guard2", "guard-3", "guard3", "guard-4", "guard4")


def _from_model_id(model: str) -> str:
    known = {m.casefold(): m for m in TOGETHER_SAFETY_MODELS.values()}
    if model.strip().casefold() in known:
        return known[model.strip().casefold()]
    name = model.rsplit("/", 1)[-1].casefold().replace("_", "-").replace(" ", "-")
    if not any(tag in name.replace("llamaguard", "llama-guard") for tag in _GENERATION_NAMES):
        # taxonomy_for_model falls back to generation 2 for unknown ids; a server-side
        # moderation model must not be guessed.
        raise ConfigurationError(
            f"cannot tell which Llama Guard generation {model!r} is; pass one of Together's ids: "
            f"{', '.join(TOGETHER_SAFETY_MODELS.values())}"
        )
    generation = taxonomy_for_model(model).generation
    if generation not in TOGETHER_SAFETY_MODELS:
        raise ConfigurationError(
            f"Llama Guard {generation} is not a Together safety model; use one of "
            f"{', '.join(TOGETHER_SAFETY_MODELS.values())}"
        )
    return TOGETHER_SAFETY_MODELS[generation]


def _check_policy(guard: LlamaGuard) -> None:
    """The server applies the model's default policy: refuse a guard that enforces another."""
    policy = guard.policy
    reasons = []
    if policy.taxonomy.custom:
        reasons.append("custom categories")
    elif policy.blocking != frozenset(policy.taxonomy.codes):
        reasons.append(f"a category subset ({', '.join(sorted(policy.blocking))})")
    if policy.threshold is not None:
        reasons.append(f"a score threshold ({policy.threshold})")
    if reasons:
        raise ConfigurationError(
            f"Together's safety_model cannot apply this guard's {' and '.join(reasons)}: it runs "
            "Llama Guard's default policy and returns no score. Keep the client-side guard for "
            "that policy, or build the parameter from a model id (safety_model_id(model))"
        )


def safety_model_id(guard_or_model: LlamaGuard | str | None = None) -> str:
    """The Together model id to pass as ``safety_model``.

    From a guard: Together's model of the Llama Guard generation it judges with; a guard whose
    policy the server cannot apply (custom categories, a category subset, a threshold) is a
    ``ConfigurationError``. From a model id: Together's id for that generation
    (``"meta-llama/Meta-Llama-Guard-3-8B"`` for an HF or Ollama Llama Guard 3 id).
    ``None``: the seed's ``meta-llama/LlamaGuard-2-8b``.

    Example::

        >>> safety_model_id("meta-llama/Llama-Guard-3-1B")
        'meta-llama/Meta-Llama-Guard-3-8B'
        >>> safety_model_id()
        'meta-llama/LlamaGuard-2-8b'
    """
    if guard_or_model is None:
        return TOGETHER_SAFETY_MODELS[2]
    if isinstance(guard_or_model, str):
        return _from_model_id(guard_or_model)
    _check_policy(guard_or_model)
    generation = guard_or_model.taxonomy.generation
    if generation not in TOGETHER_SAFETY_MODELS:
        raise ConfigurationError(
            f"the guard judges with Llama Guard {generation}, which Together does not offer as a "
            f"safety model ({', '.join(TOGETHER_SAFETY_MODELS.values())})"
        )
    # By generation, not by the guard's model id: a local or Ollama id is no Together id.
    return TOGETHER_SAFETY_MODELS[generation]


def safety_model_body(guard_or_model: LlamaGuard | str | None = None) -> dict[str, str]:
    """``{"safety_model": id}``, for an OpenAI-style client's ``extra_body``.

    ``ChatTogether(..., extra_body=safety_model_body(guard))`` (LangChain) and
    ``TogetherLLM(..., additional_kwargs={"extra_body": safety_model_body(guard)})``
    (LlamaIndex) send it in the request body; the ``together`` SDK takes it as a keyword:
    ``client.chat.completions.create(..., safety_model=safety_model_id(guard))``.

    Example::

        >>> safety_model_body("meta-llama/Llama-Guard-4-12B")
        {'safety_model': 'meta-llama/Llama-Guard-4-12B'}
    """
    return {"safety_model": safety_model_id(guard_or_model)}
