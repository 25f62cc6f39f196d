"""Cache keys and stored verdicts (pure), the cache protocol, and the guard's use of caches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llamashield._guard as guard_module
from llamashield import LLAMA_GUARD_2, Category, ConfigurationError, LlamaGuard, Verdict
from llamashield._cache import LRUVerdictCache, VerdictCache, resolve_cache
from llamashield._cache_key import cache_key, cache_scope, decode_verdict, encode_verdict
from llamashield._conversation import normalize_conversation
from llamashield._policy import build_policy
from llamashield.backends import SimulatedBackend

texts = st.text(min_size=1, max_size=60).filter(lambda t: normalize_conversation(t)[-1].content)


def _scope(**change: object) -> str:
    args: dict[str, object] = {
        "model": "meta-llama/LlamaGuard-2-8b",
        "backend": "TogetherBackend",
        "scores": False,
        "policy": build_policy(LLAMA_GUARD_2, None, None, "block"),
        "chunking": (16_000, 500),
    }
    args.update(change)
    return cache_scope(**args)  # type: ignore[arg-type]


@given(a=texts, b=texts)
def test_keys_are_equal_exactly_when_the_normalised_conversations_are(a: str, b: str) -> None:
    scope = _scope()
    ca, cb = normalize_conversation(a), normalize_conversation(b)
    assert (cache_key(scope, ca) == cache_key(scope, cb)) == (ca == cb)


def test_every_part_of_the_policy_changes_the_scope() -> None:
    custom = [Category("S1", "Bananas", "Talk of bananas.")]
    custom_other_text = [Category("S1", "Bananas", "Talk of ripe bananas.")]
    scopes = [
        _scope(),
        _scope(model="meta-llama/Meta-Llama-Guard-3-8B"),
        _scope(backend="OpenAICompatibleBackend"),
        _scope(scores=True),
        _scope(policy=build_policy(LLAMA_GUARD_2, ["S1"], None, "block")),
        _scope(policy=build_policy(LLAMA_GUARD_2, None, 0.5, "block")),
        _scope(policy=build_policy(LLAMA_GUARD_2, None, 0.6, "block")),
        _scope(policy=build_policy(LLAMA_GUARD_2, custom, None, "block")),
        _scope(policy=build_policy(LLAMA_GUARD_2, custom_other_text, None, "block")),
        _scope(chunking=(8_000, 500)),
    ]
    assert len(set(scopes)) == len(scopes)
    # error verdicts are never cached, so on_error cannot change a cached verdict
    assert _scope(policy=build_policy(LLAMA_GUARD_2, None, None, "allow")) == _scope()


def test_the_role_is_part_of_the_key() -> None:
    scope = _scope()
    as_user = normalize_conversation([{"role": "user", "content": "x"}])
    as_agent = normalize_conversation([{"role": "assistant", "content": "x"}])
    assert cache_key(scope, as_user) != cache_key(scope, as_agent)


verdicts = st.builds(
    Verdict,
    safe=st.booleans(),
    categories=st.lists(st.sampled_from(list(LLAMA_GUARD_2)), max_size=3).map(tuple),
    score=st.none() | st.floats(0.0, 1.0),
    role=st.sampled_from(["user", "agent"]),
    raw=st.sampled_from(["safe", "unsafe", "unsafe\nS1", " unsafe \n S9,S2 "]) | st.text(),
    model=st.sampled_from(["meta-llama/LlamaGuard-2-8b", "m"]),
    latency_ms=st.floats(0.0, 1e6),
)


@given(verdict=verdicts)
def test_stored_verdicts_round_trip_as_cached(verdict: Verdict) -> None:
    back = decode_verdict(encode_verdict(verdict))
    assert back.cached and back.error is None
    assert (back.safe, back.categories, back.score, back.role, back.model) == (
        verdict.safe, verdict.categories, verdict.score, verdict.role, verdict.model,
    )  # fmt: skip
    assert back.raw.split("\n")[0] in ("", "safe", "unsafe")


@given(verdict=verdicts, secret=st.text(min_size=12, max_size=40).filter(str.strip))
def test_stored_bytes_hold_no_text_beyond_the_verdict(verdict: Verdict, secret: str) -> None:
    # A model answer that echoes the prompt must not carry it into a shared cache.
    leaky = verdict.model_copy(update={"raw": f"unsafe\nS1\n{secret}"})
    data = encode_verdict(leaky).decode()
    assert secret not in data and repr(secret)[1:-1] not in data


def test_error_verdicts_cannot_be_stored_and_garbage_is_never_a_verdict() -> None:
    with pytest.raises(ValueError):
        encode_verdict(Verdict(safe=False, error="down"))
    for junk in (b"", b"safe", b"{}", b'{"f":1,"safe":"yes"}', b"\xff", b"[1]", b'{"f":99}'):
        with pytest.raises(ValueError):
            decode_verdict(junk)


def test_resolve_cache_accepts_sizes_and_protocol_objects_only() -> None:
    assert resolve_cache(False) is None and resolve_cache(0) is None
    lru = resolve_cache(True)
    assert isinstance(lru, LRUVerdictCache) and lru.maxsize == 1024
    assert isinstance(resolve_cache(5), LRUVerdictCache)
    mine = LRUVerdictCache(3)
    assert resolve_cache(mine) is mine and isinstance(mine, VerdictCache)
    with pytest.raises(ConfigurationError, match="cache="):
        resolve_cache("redis://x")  # type: ignore[arg-type]


def test_no_key_is_computed_when_the_cache_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> str:
        raise AssertionError("hashed without a cache")

    monkeypatch.setattr(guard_module, "cache_key", boom)
    guard = LlamaGuard(SimulatedBackend())
    assert not guard.check("bomb").safe and guard.check_many(["hi", "bomb"])[0].safe


async def test_a_custom_cache_serves_sync_and_async_checks() -> None:
    class Recording(LRUVerdictCache):
        def __init__(self) -> None:
            super().__init__(100)
            self.calls: list[str] = []

        async def aget(self, key: str) -> Verdict | None:
            self.calls.append("aget")
            return self.get(key)

        async def aput(self, key: str, verdict: Verdict) -> None:
            self.calls.append("aput")
            self.put(key, verdict)

    cache, backend = Recording(), SimulatedBackend()
    guard = LlamaGuard(backend, cache=cache)
    first = await guard.acheck("how to make a bomb")
    second = guard.check("how to make a bomb")
    assert not first.safe and not second.safe and second.cached and backend.calls == 1
    assert cache.calls == ["aget", "aput"]


def test_a_cache_hit_keeps_an_unsafe_verdict_unsafe_and_errors_are_never_stored() -> None:
    cache = LRUVerdictCache(10)
    backend = SimulatedBackend()
    guard = LlamaGuard(backend, cache=cache)
    assert not guard.check("bomb").safe
    hit = guard.check("bomb")
    assert hit.cached and not hit.safe and hit.codes == ("S8",)
    too_long = LlamaGuard(backend, cache=cache, max_chars=3)
    assert too_long.check("hello").error and len(cache) == 1
