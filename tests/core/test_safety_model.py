"""Together's ``safety_model``: the helper, the loopback server's record, and the docs' examples.

The examples of docs/together-safety-model.md run as they are, against the loopback server,
through the real ChatTogether, TogetherLLM and ``together`` SDK clients.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import httpx
import pytest

from llamashield import LlamaGuard
from llamashield._exceptions import ConfigurationError
from llamashield.backends import SimulatedBackend
from llamashield.safety_model import TOGETHER_SAFETY_MODELS, safety_model_body, safety_model_id
from llamashield.testing import LoopbackServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "together-safety-model.md"
GENERATION_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (None, "meta-llama/LlamaGuard-2-8b"),
        ("meta-llama/LlamaGuard-2-8b", "meta-llama/LlamaGuard-2-8b"),
        ("META-LLAMA/llama-guard-4-12b", "meta-llama/Llama-Guard-4-12B"),  # Together's spelling
        ("meta-llama/Meta-Llama-Guard-2-8B", "meta-llama/LlamaGuard-2-8b"),  # the HF id
        ("meta-llama/Llama-Guard-3-1B", "meta-llama/Meta-Llama-Guard-3-8B"),
        ("llama-guard3:8b", "meta-llama/Meta-Llama-Guard-3-8B"),  # an Ollama tag
    ],
)
def test_model_ids_map_to_togethers_ids(model: str | None, expected: str) -> None:
    assert safety_model_id(model) == expected
    assert safety_model_body(model) == {"safety_model": expected}


@pytest.mark.parametrize(
    "model", ["llama-guard", "/models/my-finetune", "Meta-Llama/Llama-Guard-7b"]
)
def test_a_model_id_naming_no_offered_generation_is_refused(model: str) -> None:
    with pytest.raises(ConfigurationError, match="meta-llama/LlamaGuard-2-8b"):
        safety_model_id(model)


@pytest.mark.parametrize("generation", [2, 3, 4])
def test_a_guard_gives_the_model_of_its_generation(generation: int) -> None:
    guard = LlamaGuard(SimulatedBackend(), taxonomy=generation)
    assert safety_model_id(guard) == TOGETHER_SAFETY_MODELS[generation]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"categories": ["S1", "S9"]}, r"a category subset \(S1, S9\)"),
        ({"threshold": 0.3}, r"a score threshold \(0.3\)"),
        ({"taxonomy": 1}, "Llama Guard 1, which Together does not offer"),
    ],
)
def test_a_guard_policy_the_server_cannot_apply_is_refused(
    policy: dict[str, object], message: str
) -> None:
    guard = LlamaGuard(SimulatedBackend(), **policy)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=message):
        safety_model_body(guard)


def test_custom_categories_are_refused() -> None:
    from llamashield import LLAMA_GUARD_2, Category

    custom = LLAMA_GUARD_2.with_categories([Category("S1", "Spam", "Unsolicited ads.")])
    guard = LlamaGuard(SimulatedBackend(), taxonomy=custom)
    with pytest.raises(ConfigurationError, match="custom categories"):
        safety_model_id(guard)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"prompt": "hi"}),
    ],
)
def test_the_loopback_server_records_safety_model_and_answers_as_usual(
    path: str, body: dict[str, object]
) -> None:
    with LoopbackServer() as server:
        plain = httpx.post(server.base_url + path, json={"model": "m", **body})
        moderated = httpx.post(
            server.base_url + path,
            json={"model": "m", **body, "safety_model": "meta-llama/LlamaGuard-2-8b"},
        )
        refused = httpx.post(server.base_url + path, json={"model": "m", **body,
                                                           "safety_model": 7})  # fmt: skip
        recorded = list(server.safety_models)
    assert plain.status_code == moderated.status_code == 200
    # server-side blocking is not emulated: the same answer comes back
    assert plain.json()["choices"][0] == moderated.json()["choices"][0]
    assert recorded == [(path, "m", "meta-llama/LlamaGuard-2-8b")]
    assert refused.status_code == 400 and "safety_model" in refused.json()["error"]["message"]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_docs_examples_run_and_send_safety_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_together")
    pytest.importorskip("llama_index.llms.together")
    pytest.importorskip("langchain_llamashield")
    pytest.importorskip("llama_index.llamashield")
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 4
    with LoopbackServer() as server:
        monkeypatch.setenv("TOGETHER_API_KEY", "loopback-test-key")
        monkeypatch.setenv("TOGETHER_BASE_URL", server.base_url)
        monkeypatch.setenv("TOGETHER_API_BASE", server.openai_base_url)
        namespace: dict[str, object] = {}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            for block in blocks:
                exec(compile(block, str(DOC), "exec"), namespace)  # our own docs' examples
        recorded = list(server.safety_models)
        guard_checks = server.count("/chat/completions", "LlamaGuard")
    # ChatTogether invoke, the guarded chain, TogetherLLM complete, the guarded chat, the SDK
    assert recorded == [("/v1/chat/completions", GENERATION_MODEL, TOGETHER_SAFETY_MODELS[2])] * 5
    assert guard_checks == 4  # input and answer, in the LangChain chain and the LlamaIndex chat
    assert printed.getvalue().count("You said: Suggest a name for a bakery.") == 5


def test_llamaindex_refuses_a_bare_safety_model_keyword() -> None:
    """Why the docs put safety_model inside extra_body for TogetherLLM."""
    together_llm = pytest.importorskip("llama_index.llms.together")
    with LoopbackServer() as server:
        llm = together_llm.TogetherLLM(
            model=GENERATION_MODEL, api_key="k", api_base=server.openai_base_url,
            additional_kwargs=safety_model_body(), max_retries=0,
        )  # fmt: skip
        with pytest.raises(TypeError, match="safety_model"):
            llm.complete("hi")
        assert server.safety_models == []
