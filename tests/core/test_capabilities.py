"""Settings a backend can never apply are refused at construction, with the fix in the message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from llamashield import Category, ConfigurationError, LlamaGuard
from llamashield.backends import (
    BaseBackend,
    Capabilities,
    OpenAICompatibleBackend,
    SimulatedBackend,
)
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


class Plain:
    """A backend written to the duck-typed protocol of before: no capabilities, no lifecycle."""

    model = "plain"
    taxonomy = SimulatedBackend().taxonomy

    def complete(self, request: Any, *, timeout: float) -> Any: ...

    async def acomplete(self, request: Any, *, timeout: float) -> Any: ...


def test_a_backend_that_declares_nothing_is_trusted() -> None:
    class Declaring(BaseBackend, Plain):
        pass

    assert Declaring().capabilities == Capabilities()
    assert LlamaGuard(Declaring(), threshold=0.5, categories=ACME).taxonomy.custom


def test_a_backend_without_the_whole_protocol_is_told_what_to_add() -> None:
    with pytest.raises(ConfigurationError) as info:
        LlamaGuard(Plain())  # type: ignore[arg-type]
    message = str(info.value)
    assert "lacks capabilities, warm_up, awarm_up, close, aclose" in message
    assert "Subclass llamashield.backends.BaseBackend" in message
    assert "model, taxonomy" not in message.split("lacks")[1].split(".")[0]


@pytest.mark.parametrize(
    ("declared", "settings", "fix"),
    [
        (Capabilities(gives_scores=False), {"threshold": 0.5}, "use a backend that returns"),
        (Capabilities(gives_scores=False, score_hint="Mine(scores=True)"), {"threshold": 0.5},
         "use Mine(scores=True)"),
        (Capabilities(sends_prompt=False), {"categories": ACME}, "mode='completions'"),
    ],
)  # fmt: skip
def test_a_third_party_backend_is_held_to_what_it_declares(
    declared: Capabilities, settings: dict[str, Any], fix: str
) -> None:
    class Mine(BaseBackend, Plain):
        capabilities = declared

    with pytest.raises(ConfigurationError, match=re.escape(fix)):
        LlamaGuard(Mine(), **settings)


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
    assert LlamaGuard(threshold=0.3).backend.capabilities.gives_scores
    assert not LlamaGuard().backend.capabilities.gives_scores
