"""The rules a check applies around the backend call, pure: which settings are wrong (and which
a backend can never apply), what a media turn gets, whether a backend's answer keeps its
contract, and what one check tells the circuit breaker."""

from __future__ import annotations

from dataclasses import dataclass, replace

from llamashield._circuit import CircuitBreaker, Health
from llamashield._exceptions import ConfigurationError
from llamashield._policy import Policy
from llamashield.backends._base import Backend, BackendAnswer, BackendFailure, GuardRequest

MEDIA_ONLY = (
    "the judged message has only non-text content (images, audio, files) and Llama Guard reads "
    "text: with media='text_only' there is no text to judge, so the error policy decides; send "
    "text with it, or guard media with a multimodal moderator"
)


@dataclass(frozen=True, slots=True)
class Result:
    """What the backend did for one request: an answer or a failure, and how long it took."""

    request: GuardRequest
    outcome: BackendAnswer | BackendFailure
    latency_ms: float


def health(results: list[Result] | None) -> Health:
    """One check's effect on the breaker: a failed chunk fails the check (counted once); an
    unreadable answer says nothing about availability; no results (cancelled) says nothing."""
    if results is None:
        return None
    errors = [r.outcome for r in results if isinstance(r.outcome, BackendFailure)]
    if any(e.kind != "malformed" for e in errors):
        return "failure"
    return "success" if len(errors) < len(results) else None


def checked(answer: object) -> BackendAnswer | BackendFailure:
    """Any backend, the user's own included: a reply that breaks the answer's contract is a
    failure the error policy decides, never an exception from deep inside. A score that is no
    probability (NaN, inf, 1.5) is dropped and named in ``problem``: the text still decides
    where it says ``unsafe``, so a broken score never turns the model's ``unsafe`` into an
    error that ``on_error="allow"`` would let through."""
    problem = malformed(answer)
    if problem is None and isinstance(answer, BackendAnswer):
        return answer
    if problem is None:
        problem = "backend answered no BackendAnswer"
    elif isinstance(answer, BackendAnswer) and _readable_apart_from_score(answer):
        return replace(answer, score=None, problem=problem)
    return BackendFailure(problem, kind="malformed")


def _readable_apart_from_score(answer: BackendAnswer) -> bool:
    return (
        isinstance(answer.text, str)
        and isinstance(answer.model, str)
        and (answer.problem is None or isinstance(answer.problem, str))
    )


def _count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"{name} must be an int >= {least}, got {value!r}")
    return value


def check_settings(
    *,
    timeout: object,
    max_retries: object,
    max_concurrency: object,
    chunk_chars: object,
    chunk_overlap: object,
    max_chars: object,
    circuit_breaker: object,
) -> None:
    """Refuse a guard's limits of the wrong type or out of range when it is built, with the
    range, so a typo cannot surface later as a ``TypeError`` from inside a check."""
    if isinstance(timeout, bool) or not (isinstance(timeout, int | float) and timeout > 0):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    _count("max_concurrency", max_concurrency, 1)
    _count("max_retries", max_retries, 0)
    _count("max_chars", max_chars, 1)
    chunk = _count("chunk_chars", chunk_chars, 2)
    if _count("chunk_overlap", chunk_overlap, 0) >= chunk // 2:
        raise ConfigurationError(
            f"chunk_overlap must be under half of chunk_chars ({chunk}), got {chunk_overlap!r}"
        )
    if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
        raise ConfigurationError(
            "circuit_breaker takes a CircuitBreaker (or None to always wait for the backend), "
            f"got {type(circuit_breaker).__name__}"
        )


def check_capabilities(backend: Backend, policy: Policy) -> None:
    """Refuse settings the backend can never apply, with the fix (undeclared: allowed)."""
    can = backend.capabilities
    if policy.threshold is not None and can.gives_scores is False:
        raise ConfigurationError(
            f"threshold={policy.threshold:g} needs a score, but {backend!r} never gives one, so "
            f"the threshold would be ignored: use {can.score_hint}, or drop threshold="
        )
    if policy.taxonomy.needs_own_prompt and can.sends_prompt is False:
        what = (
            "custom categories are"
            if policy.taxonomy.custom
            else "categories excluded from the prompt (exclude_from_prompt=True) are"
        )
        raise ConfigurationError(
            f"{what} sent in llamashield's prompt, but {backend!r} lets the server apply the "
            "model's chat template, which lists only the model's own categories: use "
            "OpenAICompatibleBackend(..., mode='completions') (raw prompts), TogetherBackend or "
            "TransformersBackend, or pass category codes of the model's taxonomy"
        )


def malformed(answer: object) -> str | None:
    """Why a backend's answer breaks the ``BackendAnswer`` contract, or None."""
    if not isinstance(answer, BackendAnswer):
        return f"backend returned {type(answer).__name__}, not a BackendAnswer"
    if not isinstance(answer.text, str):
        return f"backend answered {type(answer.text).__name__}, not text"
    if not isinstance(answer.model, str):
        return f"backend named its model with a {type(answer.model).__name__}, not a str"
    if answer.problem is not None and not isinstance(answer.problem, str):
        return f"backend described a problem with a {type(answer.problem).__name__}, not a str"
    score = answer.score
    if score is not None and not (
        isinstance(score, int | float) and not isinstance(score, bool) and 0.0 <= score <= 1.0
    ):
        return f"backend gave score {score!r}, not a probability between 0 and 1"
    return None
