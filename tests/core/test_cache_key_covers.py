"""Issue 20, item 8: a verdict cache key covers everything that reaches the model or decides
the verdict, and a conversation whose verdict depends on content llamashield never saw (an
image behind an http(s) URL) is not cached at all."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_4, Category, ConfigurationError, LlamaGuard
from llamashield._prompts import build_prompt
from llamashield.backends import OpenAICompatibleBackend, SimulatedBackend
from llamashield.backends._base import BackendAnswer, Capabilities, GuardRequest

pytest.importorskip("together")

LG2, LG3, LG4 = (
    "meta-llama/LlamaGuard-2-8b",
    "meta-llama/Llama-Guard-3-8B",
    "meta-llama/Llama-Guard-4-12B",
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def png_url(payload: bytes) -> str:
    # A PNG signature and IEND chunk, then bytes that make each image distinct.
    return "data:image/png;base64," + base64.b64encode(PNG + payload).decode()


def _key(guard: LlamaGuard, conversation: Any) -> str | None:
    plan = guard._job(conversation)
    assert plan.rejected is None, plan.rejected
    return guard._cache_key(plan)


# -- two guards that differ in one setting ---------------------------------------------------

CUSTOM = [Category("S1", "Pineapple", "Pineapple on pizza.")]
# Each setting that changes the prompt, what the model answers, or how the answer is read,
# with the values it takes.
DECISIVE: dict[str, list[Any]] = {
    "backend": ["openai", "together", "simulated"],
    "model": [LG2, LG3, LG4],
    "mode": ["completions", "chat"],
    "max_tokens": [20, 32],
    "logprobs": [None, 5, 2],
    "rules": [None, {"pineapple": "S9"}, {"pizza": "S9"}],
    "taxonomy": [None, 3, 4],
    "categories": [None, ["S1"], ["S1", "S9"], CUSTOM],
    "exclude_from_prompt": [False, True],
    "threshold": [None, 0.5, 0.7],
    "chunk_chars": [16_000, 8_000],
    "chunk_overlap": [500, 100],
    "media": [None, "block", "text_only", "judge"],
    "max_images": [None, 3],
    "max_image_bytes": [None, 1_000_000],
}
# Settings of one backend only: changing them elsewhere changes nothing, by design.
ONLY_FOR = {
    "mode": {"openai"},
    "max_tokens": {"openai", "together"},
    "logprobs": {"openai", "together"},
    "rules": {"simulated"},
}


_BACKENDS: dict[tuple[Any, ...], Any] = {}


def backend_for(config: dict[str, Any]) -> Any:
    """The config's backend, made once per backend setting (an HTTP backend's clients take
    tens of milliseconds to make; a key reads the backend's settings only)."""
    kind = config["backend"]
    if kind == "openai":
        memo: tuple[Any, ...] = (kind, config["model"], config["mode"], config["max_tokens"])
        memo += (config["logprobs"], config.get("api_key"))
    elif kind == "together":
        memo = (kind, config["model"], config["max_tokens"], bool(config["logprobs"]))
        memo += (config.get("api_key"),)
    else:
        memo = (kind, config["model"], json.dumps(config["rules"]))
    if memo in _BACKENDS:
        return _BACKENDS[memo]
    if kind == "openai":
        backend: Any = OpenAICompatibleBackend(
            "http://127.0.0.1:9",
            config["model"],
            mode=config["mode"],
            max_tokens=config["max_tokens"],
            logprobs=config["logprobs"],
            api_key=config.get("api_key"),
        )
    elif kind == "together":
        from llamashield.backends import TogetherBackend

        backend = TogetherBackend(
            config["model"],
            api_key=config.get("api_key") or "k",
            base_url="http://127.0.0.1:9",
            max_tokens=config["max_tokens"],
            logprobs=bool(config["logprobs"]),
        )
    else:
        backend = SimulatedBackend(model=config["model"], rules=config["rules"])
    _BACKENDS[memo] = backend
    return backend


def build(config: dict[str, Any]) -> LlamaGuard | None:
    """The guard a config describes, or None where the combination is refused."""
    backend = backend_for(config)
    extra = {k: config[k] for k in ("on_error", "timeout", "max_retries") if k in config}
    try:
        return LlamaGuard(
            backend,
            cache=True,
            taxonomy=config["taxonomy"],
            categories=config["categories"],
            exclude_from_prompt=config["exclude_from_prompt"],
            threshold=config["threshold"],
            chunk_chars=config["chunk_chars"],
            chunk_overlap=config["chunk_overlap"],
            media=config["media"],
            max_images=config["max_images"],
            max_image_bytes=config["max_image_bytes"],
            **extra,
        )
    except (ConfigurationError, ValueError):
        return None


configs = st.fixed_dictionaries(
    {name: st.sampled_from(values) for name, values in DECISIVE.items()}
)
CONVERSATION = [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(base=configs, data=st.data())
def test_guards_that_differ_in_one_deciding_setting_never_share_a_key(
    base: dict[str, Any], data: st.DataObject
) -> None:
    name = data.draw(
        st.sampled_from(
            [n for n in DECISIVE if base["backend"] in ONLY_FOR.get(n, {base["backend"]})]
        ),
        label="setting",
    )
    value = data.draw(st.sampled_from([v for v in DECISIVE[name] if v != base[name]]))
    changed = {**base, name: value}
    one, other = build(base), build(changed)
    assume(one is not None and other is not None)
    assert one is not None and other is not None
    # A default that resolves to the value drawn (media=None is "block" on a text model,
    # taxonomy=None the model's own) is no change.
    assume(_effective(one, name, base[name]) != _effective(other, name, value))
    assert _key(one, CONVERSATION) != _key(other, CONVERSATION), (name, base[name], value)


def _effective(guard: LlamaGuard, name: str, value: Any) -> Any:
    resolved: dict[str, Callable[[], object]] = {
        "media": lambda: guard.media,
        "taxonomy": lambda: guard.taxonomy,
        "logprobs": lambda: getattr(guard.backend, "logprobs", None),
    }
    return resolved[name]() if name in resolved else value


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    base=configs,
    harmless=st.fixed_dictionaries(
        {
            "on_error": st.sampled_from(["block", "allow", "raise"]),
            "timeout": st.sampled_from([1.0, 30.0]),
            "max_retries": st.sampled_from([0, 2]),
            "api_key": st.sampled_from([None, "key-one", "key-two"]),
        }
    ),
)
def test_settings_that_decide_nothing_keep_the_key(
    base: dict[str, Any], harmless: dict[str, Any]
) -> None:
    # The control: the key is not made of everything (on_error cannot change a cached verdict:
    # error verdicts are never cached), so the test above can fail.
    one, other = build(base), build({**base, **harmless})
    assume(one is not None and other is not None)
    assert one is not None and other is not None
    assert _key(one, CONVERSATION) == _key(other, CONVERSATION)


def test_exclude_from_prompt_changes_the_key_the_prompt_and_the_verdict() -> None:
    # The example: the same blocking codes, with and without the others in the prompt.
    kept = LlamaGuard(SimulatedBackend(), categories=["S1"], cache=True)
    excluded = LlamaGuard(
        SimulatedBackend(), categories=["S1"], exclude_from_prompt=True, cache=True
    )
    prompts = {guard.prepare("hi").prompt for guard in (kept, excluded)}
    assert len(prompts) == 2
    assert _key(kept, "hi") != _key(excluded, "hi")


# -- two conversations that differ where the model reads -------------------------------------


class ImageReader(SimulatedBackend):
    """Keyword rules on a Llama Guard 4 model that reads images: unsafe when any image it is
    sent carries ``UNSAFE`` (in its URL or its bytes), like the loopback server's marker."""

    @property
    def capabilities(self) -> Capabilities:
        return replace(super().capabilities, supports_images=True)

    def __init__(self) -> None:
        super().__init__(model=LG4, taxonomy=LLAMA_GUARD_4)
        self.behind_url = b"a kitten"  # what an http(s) URL serves right now

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        answer = super()._answer(request)
        for turn in request.conversation:
            for url in turn.images:
                data = base64.b64decode(url.split(",", 1)[1]) if url.startswith("data:") else b""
                if b"UNSAFE" in data or (not data and b"UNSAFE" in self.behind_url):
                    return BackendAnswer("unsafe\nS1", 0.97, self.model)
        return answer


def model_input(guard: LlamaGuard, conversation: Any) -> list[Any]:
    """Everything the model reads for one check: each request's messages (images included),
    its role, and the raw prompt where one is sent."""
    plan = guard._job(conversation)
    reads = []
    for request in plan.requests:
        images = any(t.images for t in request.conversation)
        prompt = None if images else build_prompt(request.conversation, request.taxonomy)
        reads.append([request.role, json.dumps(request.chat_messages()), prompt])
    return reads


words = st.sampled_from(["hi", "hello", "bomb", "cake", " ", "\n", "é", "Agent:", "x"])
texts = st.lists(words, max_size=4).map("".join)
images = st.binary(max_size=3).map(png_url)
parts = st.one_of(
    texts.map(lambda t: {"type": "text", "text": t}),
    images.map(lambda u: {"type": "image_url", "image_url": {"url": u}}),
)
messages = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool"]),
        "content": texts | st.lists(parts, min_size=1, max_size=3),
    }
)
conversations = st.lists(messages, min_size=1, max_size=4).filter(
    lambda c: c[-1]["role"] in ("user", "assistant")
)


@st.composite
def near_pairs(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """A conversation, and one like it with one change: most pairs differ in one place."""
    first = draw(conversations)
    second = [dict(m) for m in first]
    index = draw(st.integers(0, len(second) - 1))
    change = draw(st.sampled_from(["content", "role", "drop", "insert", "same"]))
    if change == "content":
        second[index]["content"] = draw(messages)["content"]
    elif change == "role":
        second[index]["role"] = draw(st.sampled_from(["user", "assistant", "system", "tool"]))
    elif change == "drop" and len(second) > 1:
        del second[index]
    elif change == "insert":
        second.insert(index, draw(messages))
    assume(second[-1]["role"] in ("user", "assistant"))
    return first, second


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(pair=near_pairs())
def test_conversations_share_a_key_exactly_when_the_model_reads_the_same(
    pair: tuple[list[Any], list[Any]],
) -> None:
    guard = LlamaGuard(ImageReader(), media="judge", cache=True)
    first, second = pair
    try:
        keys = _key(guard, first), _key(guard, second)
        reads = model_input(guard, first), model_input(guard, second)
    except (ValueError, AssertionError):
        assume(False)  # empty after normalising, or rejected before any key
        return
    assert (keys[0] == keys[1]) == (reads[0] == reads[1]), pair


# -- content the guard never saw is never cached ---------------------------------------------


def _with_image(url: str) -> list[Any]:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return [{"role": "user", "content": parts}]


@settings(deadline=None)
@given(
    url=st.sampled_from(["https://img.test/cat.png", "http://img.test/a?b=c", "HTTPS://x.test/y"])
)
def test_an_http_image_has_no_key(url: str) -> None:
    guard = LlamaGuard(ImageReader(), media="judge", cache=True)
    assert _key(guard, _with_image(url)) is None
    assert _key(guard, _with_image(png_url(b"cat"))) is not None


async def test_an_image_swapped_behind_its_url_is_judged_again() -> None:
    backend = ImageReader()
    guard = LlamaGuard(backend, media="judge", cache=True)
    conversation = _with_image("https://img.test/cat.png")
    assert guard.check(conversation).safe
    backend.behind_url = b"UNSAFE now"  # the same URL serves another image
    for verdict in (guard.check(conversation), await guard.acheck(conversation)):
        assert not verdict.safe and not verdict.cached
    assert backend.calls == 3


async def test_an_image_sent_as_bytes_is_cached_by_its_bytes() -> None:
    backend = ImageReader()
    guard = LlamaGuard(backend, media="judge", cache=True)
    assert guard.check(_with_image(png_url(b"kitten"))).safe
    assert (await guard.acheck(_with_image(png_url(b"kitten")))).cached
    assert backend.calls == 1
    unsafe = guard.check(_with_image(png_url(b"UNSAFE")))  # other bytes: another key
    assert not unsafe.safe and not unsafe.cached and backend.calls == 2
