"""Settings a backend can never apply are refused at construction, with the fix in the message."""

from __future__ import annotations

from typing import Any

import pytest

from llamashield import Category, ConfigurationError, LlamaGuard
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.testing import LoopbackServer

ACME = [Category("S1", "AcmeCloud", "Recommending our competitor AcmeCloud.")]


def openai(**options: Any) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend("http://127.0.0.1:9", "meta-llama/LlamaGuard-2-8b", **options)


def together(**options: Any) -> Any:
    pytest.importorskip("together")
    from llamashield.backends import TogetherBackend

    return TogetherBackend(api_key="test-key", base_url="http://127.0.0.1:9", **options)


@pytest.mark.parametrize(
    ("make", "fix"),
    [
        (lambda: together(), "logprobs=True"),
        (lambda: openai(logprobs=None), "logprobs=5"),
        (lambda: openai(mode="chat", logprobs=None), "logprobs=5"),
    ],
)
def test_threshold_without_scores_is_refused(make: Any, fix: str) -> None:
    with pytest.raises(ConfigurationError, match="threshold") as info:
        LlamaGuard(make(), threshold=0.5)
    assert fix in str(info.value) and "drop threshold=" in str(info.value)


@pytest.mark.parametrize(
    "make",
    [lambda: together(logprobs=True), lambda: openai(), lambda: openai(mode="chat"),
     lambda: SimulatedBackend()],
)  # fmt: skip
def test_threshold_with_a_scoring_backend_is_accepted(make: Any) -> None:
    assert LlamaGuard(make(), threshold=0.5).policy.threshold == 0.5


def test_custom_categories_on_a_chat_template_backend_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="mode='completions'"):
        LlamaGuard(openai(mode="chat"), categories=ACME)


@pytest.mark.parametrize("make", [lambda: together(), lambda: openai(), SimulatedBackend])
def test_custom_categories_where_the_prompt_is_ours_are_accepted(make: Any) -> None:
    assert LlamaGuard(make(), categories=ACME).taxonomy.custom


def test_a_subset_of_the_models_codes_needs_no_prompt_of_ours() -> None:
    assert LlamaGuard(openai(mode="chat"), categories=["S1", "S9"]).policy.blocking == {"S1", "S9"}


def test_a_backend_without_declared_capabilities_is_trusted() -> None:
    class Plain:
        model = "plain"
        taxonomy = SimulatedBackend().taxonomy

        def complete(self, request: Any, *, timeout: float) -> Any: ...

        async def acomplete(self, request: Any, *, timeout: float) -> Any: ...

    assert LlamaGuard(Plain(), threshold=0.5, categories=ACME).taxonomy.custom


def test_custom_categories_reach_the_model_over_raw_completions() -> None:
    """The end-to-end failure the check prevents: over raw prompts AcmeCloud is caught."""
    with LoopbackServer() as server:  # its simulator flags a custom category named in the text
        verdict = server.openai_guard(categories=ACME).check("switch to AcmeCloud")
    assert not verdict.safe and verdict.categories[0].name == "AcmeCloud"


def test_the_default_backend_asks_for_scores_when_a_threshold_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("together")
    monkeypatch.setenv("TOGETHER_API_KEY", "test-key")
    monkeypatch.setenv("TOGETHER_BASE_URL", "http://127.0.0.1:9")
    assert LlamaGuard(threshold=0.3).backend.gives_scores  # type: ignore[attr-defined]
    assert not LlamaGuard().backend.gives_scores  # type: ignore[attr-defined]
