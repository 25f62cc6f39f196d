"""Ollama: ``OllamaBackend`` on the native API, and ``OpenAICompatibleBackend`` refused there.

Every request goes over real sockets to the loopback server's Ollama stand-in
(``LoopbackServer(engine="ollama")``, written from Ollama's source: see
``llamashield.testing._ollama``), which records both the request bodies and the text its model
read (after its template, or raw).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import Category, ConfigurationError, LlamaGuard
from llamashield._conversation import normalize_conversation
from llamashield._prompts import BOS_TEXT, build_prompt
from llamashield._taxonomy import LLAMA_GUARD_3, LLAMA_GUARD_3_1B, taxonomy_for_model
from llamashield.backends import OllamaBackend, OpenAICompatibleBackend
from llamashield.testing import LoopbackServer

AGENT = [
    {"role": "user", "content": "How do I pick a lock?"},
    {"role": "assistant", "content": "First, kill them all."},
]


@pytest.fixture(scope="module")
def ollama() -> Iterator[LoopbackServer]:
    with LoopbackServer(engine="ollama") as server:
        yield server


# -- OllamaBackend: raw prompts on /api/generate --------------------------------------------


def test_the_prompt_goes_raw_with_the_options_and_no_bos_text(ollama: LoopbackServer) -> None:
    guard = ollama.ollama_guard(keep_alive="10m", options={"seed": 7})
    verdict = guard.check("How do I make a bomb?")
    assert (verdict.safe, verdict.codes, verdict.role) == (False, ("S9",), "user")
    assert verdict.score == pytest.approx(0.97)
    body = ollama.bodies[-1]
    assert body["raw"] is True and body["stream"] is False and body["truncate"] is False
    assert body["options"] == {"temperature": 0, "num_predict": 20, "num_ctx": 8192, "seed": 7}
    assert body["keep_alive"] == "10m"
    assert (body["logprobs"], body["top_logprobs"]) == (True, 5)
    expected = build_prompt(normalize_conversation("How do I make a bomb?"), LLAMA_GUARD_3)
    assert BOS_TEXT + body["prompt"] == expected and BOS_TEXT not in body["prompt"]
    read = ollama.ollama.rendered[-1]
    assert (read.path, read.raw, read.bos, read.text) == ("/api/generate", True, 1, body["prompt"])


@pytest.mark.parametrize(
    ("model", "codes"),
    [("llama-guard3:8b", ("S1",)), ("llama-guard3:1b", ("S1",)), ("llama-guard2", ("S1",)),
     ("llama-guard4:12b", ("S1",))],
)  # fmt: skip
def test_agent_turns_are_judged_as_the_agent_in_every_generation(
    ollama: LoopbackServer, model: str, codes: tuple[str, ...]
) -> None:
    verdict = ollama.ollama_guard(model=model).check(AGENT)
    assert (verdict.role, verdict.safe, verdict.codes) == ("agent", False, codes)
    prompt = ollama.bodies[-1]["prompt"]
    assert "ONLY THE LAST Agent message" in prompt and ollama.bodies[-1]["model"] == model


def test_custom_categories_and_exclusions_reach_the_model(ollama: LoopbackServer) -> None:
    custom = [Category("S1", "Pineapple Pizza", "Should not praise pineapple on pizza.")]
    verdict = ollama.ollama_guard(categories=custom).check("I love pineapple pizza")
    assert verdict.codes == ("S1",) and verdict.categories[0].name == "Pineapple Pizza"
    assert "S1: Pineapple Pizza." in ollama.bodies[-1]["prompt"]
    ollama.ollama_guard(categories=["S1", "S9"], exclude_from_prompt=True).check("hi")
    listed = [line for line in ollama.bodies[-1]["prompt"].splitlines() if line[:1] == "S"]
    assert listed == ["S1: Violent Crimes.", "S9: Indiscriminate Weapons."]


async def test_async_checks(ollama: LoopbackServer) -> None:
    guard = ollama.ollama_guard()
    verdicts = await guard.acheck_many(["hello", "sarin recipe", AGENT])
    assert [v.codes for v in verdicts] == [(), ("S9",), ("S1",)]
    await guard.aclose()


def test_without_logprobs_there_is_no_score(ollama: LoopbackServer) -> None:
    verdict = ollama.ollama_guard(logprobs=None).check("How do I make a bomb?")
    assert verdict.score is None and not verdict.safe
    assert "logprobs" not in ollama.bodies[-1]


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(str.strip))
def test_any_text_reaches_ollamas_model_as_our_prompt_with_one_bos(text: str) -> None:
    with LoopbackServer(engine="ollama") as server:
        server.ollama_guard().check(text)
        read = server.ollama.rendered[-1]
        wanted = build_prompt(normalize_conversation(text), LLAMA_GUARD_3)
        assert read.raw and read.bos == 1 and BOS_TEXT + read.text == wanted


# -- mode="chat": Ollama's template, User turns only ----------------------------------------


def test_chat_mode_judges_user_turns_through_the_template(ollama: LoopbackServer) -> None:
    verdict = ollama.ollama_guard(mode="chat").check("How do I make a bomb?")
    assert (verdict.safe, verdict.codes) == (False, ("S9",))
    assert ollama.bodies[-1]["messages"] == [{"role": "user", "content": "How do I make a bomb?"}]
    read = ollama.ollama.rendered[-1]
    assert read.path == "/api/chat" and not read.raw
    assert "S14: Code Interpreter Abuse." in read.text  # the template's fixed categories


def test_chat_mode_refuses_agent_turns_and_custom_policies(ollama: LoopbackServer) -> None:
    guard = ollama.ollama_guard(mode="chat")
    before = len(ollama.bodies)
    with pytest.raises(ConfigurationError, match="mode='generate'"):
        guard.check(AGENT)
    assert len(ollama.bodies) == before  # refused before anything was sent
    with pytest.raises(ConfigurationError):
        ollama.ollama_guard(mode="chat", categories=[Category("S1", "Pizza", "No pizza.")])
    with pytest.raises(ConfigurationError):
        ollama.ollama_guard(mode="chat", categories=["S1"], exclude_from_prompt=True)


# -- errors -----------------------------------------------------------------------------------


def test_a_model_ollama_lacks_says_to_pull_it(ollama: LoopbackServer) -> None:
    backend = OllamaBackend(ollama.base_url, "mistral:7b", taxonomy=LLAMA_GUARD_3)
    with LlamaGuard(backend, max_retries=0) as guard:
        verdict = guard.check("hi")
    assert not verdict.safe and verdict.error is not None
    assert "ollama pull mistral:7b" in verdict.error


def test_server_errors_are_retried_and_outages_fail_closed() -> None:
    with LoopbackServer(engine="ollama") as server:
        server.inject("status", status=503, times=1)
        verdict = server.ollama_guard(max_retries=2).check("How do I make a bomb?")
        assert verdict.error is None and verdict.codes == ("S9",)
        server.inject("status", status=503, times=None)
        down = server.ollama_guard(max_retries=1, timeout=2).check("hello")
        assert not down.safe and down.error is not None and "503" in down.error


def test_construction_checks() -> None:
    with pytest.raises(ConfigurationError, match="taxonomy="):
        OllamaBackend(model="my-guard-finetune")
    assert OllamaBackend(model="llama-guard3:1b").taxonomy is LLAMA_GUARD_3_1B
    with pytest.raises(ValueError, match="root"):
        OllamaBackend("http://localhost:11434/v1")
    with pytest.raises(ValueError, match="mode"):
        OllamaBackend(mode="completions")  # type: ignore[arg-type]


def test_a_closed_backend_fails_closed(ollama: LoopbackServer) -> None:
    guard = ollama.ollama_guard()
    guard.close()
    verdict = guard.check("hello")
    assert not verdict.safe and verdict.error is not None and "closed" in verdict.error


# -- OpenAICompatibleBackend at Ollama: the double wrap, refused --------------------------------


def test_openai_compatible_completions_at_ollama_is_refused_before_any_verdict() -> None:
    with LoopbackServer(engine="ollama") as server:
        guard = LlamaGuard(OpenAICompatibleBackend(server.openai_base_url, "llama-guard3:8b"))
        with guard, pytest.raises(ConfigurationError, match=r"OllamaBackend\(base_url="):
            guard.check("How do I make a bomb?")
        assert server.count("/v1/completions") == 0  # found out before sending the prompt


async def test_the_refusal_holds_async_and_without_the_probe() -> None:
    with LoopbackServer(engine="ollama") as server:
        backend = OpenAICompatibleBackend(server.openai_base_url, "llama-guard3:8b", probe=False)
        async with LlamaGuard(backend) as guard:
            with pytest.raises(ConfigurationError, match="OllamaBackend"):
                await guard.acheck("How do I make a bomb?")
        # Without the probe the prompt went out, and Ollama's answer gave it away (fp_ollama).
        assert server.count("/v1/completions") == 1


def test_ollamas_v1_completions_wraps_the_prompt_in_the_template() -> None:
    """What the refusal prevents: the whole guard prompt judged as one User message."""
    with LoopbackServer(engine="ollama") as server:
        prompt = OllamaBackend(server.base_url)  # only to build a real guard prompt
        ours = build_prompt(normalize_conversation(AGENT), prompt.taxonomy).removeprefix(BOS_TEXT)
        reply = httpx.post(
            f"{server.base_url}/v1/completions",
            json={"model": "llama-guard3:8b", "prompt": ours, "max_tokens": 20},
        ).json()
        read = server.ollama.rendered[-1]
        assert not read.raw and read.text.count("<BEGIN CONVERSATION>") == 2
        assert f"User: {ours}\n\n<END CONVERSATION>" in read.text
        assert "ONLY THE LAST User message" in read.text.rsplit("<END CONVERSATION>", 1)[1]
        assert reply["system_fingerprint"] == "fp_ollama"
        assert reply["choices"][0]["text"].startswith("unsafe")  # still looks like a verdict


def test_chat_mode_at_ollama_refuses_agent_turns() -> None:
    with LoopbackServer(engine="ollama") as server:
        backend = OpenAICompatibleBackend(server.openai_base_url, "llama-guard3:8b", mode="chat")
        with LlamaGuard(backend) as guard:
            assert guard.check("How do I make a bomb?").codes == ("S9",)
            with pytest.raises(ConfigurationError, match="User turn"):
                guard.check(AGENT)


def test_a_model_id_naming_no_generation_needs_a_taxonomy() -> None:
    with pytest.raises(ConfigurationError, match="taxonomy="):
        OpenAICompatibleBackend("http://127.0.0.1:9/v1", "/models/guard.gguf")
    chosen = OpenAICompatibleBackend("http://127.0.0.1:9/v1", "guard", taxonomy=LLAMA_GUARD_3)
    assert chosen.taxonomy is LLAMA_GUARD_3
    assert taxonomy_for_model("/models/Llama-Guard-3-8B-Q8_0.gguf") is LLAMA_GUARD_3


# -- the stand-in speaks Ollama's protocol -----------------------------------------------------


def test_native_api_shapes(ollama: LoopbackServer) -> None:
    url = ollama.base_url
    assert httpx.get(f"{url}/").text == "Ollama is running"
    assert isinstance(httpx.get(f"{url}/api/version").json()["version"], str)
    streamed = httpx.post(f"{url}/api/generate", json={"model": "llama-guard3:8b", "prompt": "x"})
    assert streamed.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert lines[-1]["done_reason"] == "stop" and "context" in lines[-1]  # not raw: a context
    missing = httpx.post(f"{url}/api/generate", json={"model": "nope:1b", "prompt": "x"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope:1b' not found"})
    mixed = {"model": "llama-guard3:8b", "prompt": "x", "raw": True, "system": "be nice"}
    refused = httpx.post(f"{url}/api/generate", json=mixed)
    assert refused.status_code == 400 and "raw mode does not support" in refused.json()["error"]
    assert httpx.post(f"{url}/api/generate").json() == {"error": "missing request body"}
    openai = httpx.post(f"{url}/v1/completions", json={"model": "nope:1b", "prompt": "x"})
    assert openai.status_code == 404 and openai.json()["error"]["type"] == "not_found_error"
    shown = httpx.post(f"{url}/api/show", json={"model": "llama-guard3:8b"}).json()
    assert "ONLY THE LAST User message" in shown["template"]


def test_the_serving_guides_ollama_snippet_runs(ollama: LoopbackServer) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    match = re.search(r"<!-- ollama-client -->\n```python\n(.*?)\n```", guide, re.S)
    assert match is not None, "docs/serving.md lost its Ollama snippet"
    code = match.group(1).replace("http://localhost:11434", ollama.base_url)
    out, namespace = io.StringIO(), dict[str, Any]()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/serving.md", "exec"), namespace)
    for guard in [v for v in namespace.values() if isinstance(v, LlamaGuard)]:
        guard.close()  # the snippet is an application's whole life: it never closes
    assert out.getvalue().strip() == "('S9',)"
    assert ollama.bodies[-1]["raw"] is True
