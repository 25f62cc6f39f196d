"""The policy: which categories block, the score threshold, and what an error means.

``Policy.decide`` turns a backend answer into a ``Verdict``; ``Policy.fail`` turns a failure
into one (or raises). Both are pure, so the sync and async guard paths share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from llamashield._exceptions import ConfigurationError, GuardUnavailableError, VerdictParseError
from llamashield._parser import parse_answer
from llamashield._redact import redact
from llamashield._taxonomy import Category, Taxonomy
from llamashield._verdict import Verdict
from llamashield.backends._base import BackendAnswer, BackendFailure, GuardRequest

__all__ = ["OnError", "Policy", "build_policy"]

OnError = Literal["block", "allow", "raise"]
MISSING_SCORE = (
    "threshold={threshold:g} is set but the backend gave no score for this answer: decided by "
    "the answer's text"
)
_ON_ERROR = ("block", "allow", "raise")


@dataclass(frozen=True, slots=True)
class Policy:
    taxonomy: Taxonomy
    blocking: frozenset[str]
    threshold: float | None = None
    on_error: OnError = "block"

    def decide(self, request: GuardRequest, answer: BackendAnswer, latency_ms: float) -> Verdict:
        """The verdict for a model's answer; raises only for an unreadable one under "raise".

        The model's word stands: an answer whose first line is ``unsafe`` is unsafe under every
        ``on_error`` even when the rest of it cannot be read, its score included (a score that
        is no probability is dropped and the error recorded on the verdict). ``on_error``
        decides only answers that say neither safe nor unsafe, and a ``safe`` whose score could
        not be read (under a threshold that score could have said unsafe).
        """
        parsed = parse_answer(answer.text, request.taxonomy)
        problem = "; ".join(p for p in (parsed.error, answer.problem) if p) or None
        if problem is not None and not parsed.said_unsafe:
            if self.on_error == "raise":
                raise VerdictParseError(problem, raw=answer.text)
            return self._error_verdict(request, problem, latency_ms, answer)
        unsafe = parsed.unsafe
        score = answer.score if answer.problem is None else None
        if problem is None and self.threshold is not None:
            if score is None:
                problem = MISSING_SCORE.format(threshold=self.threshold)
            else:
                unsafe = score >= self.threshold
        if unsafe and parsed.categories and parsed.error is None:
            # Reported categories outside the policy do not block; an unsafe answer without
            # any code (the model omitted the line) blocks, failing closed.
            unsafe = any(c.code in self.blocking for c in parsed.categories)
        return Verdict(
            safe=not unsafe,
            categories=parsed.categories,
            score=score,
            role=request.role,
            raw=answer.text,
            model=answer.model,
            latency_ms=latency_ms,
            error=problem,
        )

    def fail(
        self, request: GuardRequest, failure: BackendFailure, model: str, latency_ms: float
    ) -> Verdict:
        """The verdict for a failure (or the error under "raise"). Its text is redacted again
        here: a custom backend's error may quote a URL with credentials in it."""
        message = redact(failure.message)
        if self.on_error == "raise":
            if failure.kind == "malformed":
                raise VerdictParseError(message) from None
            raise GuardUnavailableError(message, status_code=failure.status_code) from None
        return self._error_verdict(request, message, latency_ms, BackendAnswer("", model=model))

    def _error_verdict(
        self, request: GuardRequest, error: str, latency_ms: float, answer: BackendAnswer
    ) -> Verdict:
        return Verdict(
            safe=self.on_error == "allow",
            role=request.role,
            raw=answer.text if isinstance(answer.text, str) else "",
            model=answer.model,
            latency_ms=latency_ms,
            error=error,
        )


def build_policy(
    taxonomy: Taxonomy,
    categories: Iterable[str | Category] | None,
    threshold: float | None,
    on_error: str,
    exclude_from_prompt: bool = False,
) -> Policy:
    """Validate the user's policy arguments and resolve them against the taxonomy.

    The rule for ``categories=``: ``Category`` objects make a custom policy (the prompt lists
    exactly them, with their descriptions, even where one equals a built-in category); codes or
    names (``"S9"``, ``"Hate"``) pick which of the model's own categories block. One call takes
    one kind. ``exclude_from_prompt=True`` also removes the other categories from the prompt.
    """
    if on_error not in _ON_ERROR:
        raise ConfigurationError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not (isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0)
    ):
        raise ConfigurationError(
            f"threshold must be a probability between 0 and 1, got {threshold!r}"
        )
    if categories is None:
        if exclude_from_prompt:
            raise ConfigurationError(
                "exclude_from_prompt=True needs categories=: the codes or names to keep"
            )
        return Policy(taxonomy, frozenset(taxonomy.codes), threshold, on_error)  # type: ignore[arg-type]
    if isinstance(categories, str | Category):
        categories = [categories]
    if not isinstance(categories, Iterable):
        raise ConfigurationError(
            f"categories= takes codes, names or Category objects, got {categories!r}"
        )
    items = list(categories)
    if not items:
        raise ConfigurationError(
            "categories= is empty: nothing would ever block; pass None for all"
        )
    custom = [c for c in items if isinstance(c, Category)]
    if custom:
        if len(custom) != len(items):
            raise ConfigurationError(
                "mix of Category objects and codes/names in categories=: Category objects make "
                "a custom policy (the prompt lists exactly them), codes or names pick which of "
                "the model's categories block; pass one kind (category.code for a code)"
            )
        if exclude_from_prompt:
            raise ConfigurationError(
                "exclude_from_prompt=True applies to codes or names of the model's categories; "
                "a custom policy of Category objects already lists only its own categories"
            )
        for category in custom:
            _check_encodable(category)
        try:
            taxonomy = taxonomy.with_categories(custom)
        except ValueError as exc:  # duplicate codes...: the setting is wrong, not the input
            raise ConfigurationError(f"categories=: {exc}") from None
        return Policy(taxonomy, frozenset(taxonomy.codes), threshold, on_error)  # type: ignore[arg-type]
    try:
        blocking = frozenset(taxonomy.resolve(c).code for c in items)
    except (KeyError, TypeError) as exc:  # an unknown code or name, or not a str/Category
        raise ConfigurationError(f"categories=: {exc.args[0] if exc.args else exc}") from None
    if exclude_from_prompt:
        taxonomy = taxonomy.excluding(c for c in taxonomy.codes if c not in blocking)
    return Policy(taxonomy, blocking, threshold, on_error)  # type: ignore[arg-type]


def _check_encodable(category: Category) -> None:
    # The prompt carries these words to a server as UTF-8: a lone surrogate could never be sent.
    for text in (category.name, category.description):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigurationError(
                f"category {category.code} has text that is not valid Unicode (a lone "
                f"surrogate): {text!r}"
            ) from None
