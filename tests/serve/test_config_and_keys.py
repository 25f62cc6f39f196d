"""Settings from files and flags, hashed keys, and the category table as data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4, Taxonomy
from llamashield._exceptions import NO_BACKEND, ConfigurationError
from llamashield.serve import KeyStore, ServeConfig, build_guard, hash_key, load_config
from llamashield.serve.openai_categories import OPENAI_CATEGORIES, TO_OPENAI, UNMAPPED

DOCS = Path(__file__).resolve().parents[2] / "docs" / "production.md"


def test_toml_and_json_files_and_flags_that_win(tmp_path: Path) -> None:
    toml = tmp_path / "serve.toml"
    toml.write_text('[serve]\nbackend = "simulated"\nport = 9001\nmax_batch = 8\n'
                    'categories = ["S1", "S8"]\ncache = "none"\n')  # fmt: skip
    config = load_config(toml)
    assert (config.backend, config.port, config.max_batch) == ("simulated", 9001, 8)
    assert config.categories == ["S1", "S8"]
    flagged = config.with_overrides({"port": 9002, "max_batch": None, "deadline": 2.5})
    assert (flagged.port, flagged.max_batch, flagged.deadline) == (9002, 8, 2.5)
    as_json = tmp_path / "serve.json"
    as_json.write_text(json.dumps({"on_error": "raise", "api_keys_file": "secrets/keys"}))
    from_json = load_config(as_json)
    assert from_json.on_error == "raise"
    assert from_json.api_keys_file == tmp_path / "secrets" / "keys"  # beside the file


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("unknown_setting = 1", "unknown_setting"),
        ("max_batch = 0", "max_batch"),
        ('on_error = "maybe"', "on_error"),
        ("port = [", "not valid TOML"),
    ],
)
def test_bad_settings_say_which(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=words):
        load_config(path)


def test_no_backend_is_the_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        build_guard(ServeConfig())
    assert str(caught.value) == NO_BACKEND and "\n" not in NO_BACKEND
    with pytest.raises(ConfigurationError, match="needs model"):
        build_guard(ServeConfig(backend="transformers"))
    with pytest.raises(ConfigurationError, match="needs base_url and model"):
        build_guard(ServeConfig(backend="openai", model="llama-guard"))
    guard = build_guard(ServeConfig(backend="simulated", model="simulated/llama-guard-3"))
    assert guard.taxonomy.generation == 3 and guard.policy.on_error == "block"


def test_cache_setting_picks_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis")
    from llamashield._cache import LRUVerdictCache
    from llamashield._redis_cache import RedisVerdictCache

    simulated = {"backend": "simulated"}
    assert isinstance(build_guard(ServeConfig(**simulated))._cache, LRUVerdictCache)
    assert build_guard(ServeConfig(**simulated, cache="none"))._cache is None
    redis = build_guard(ServeConfig(**simulated, cache="redis://127.0.0.1:1/0"))._cache
    assert isinstance(redis, RedisVerdictCache)
    with pytest.raises(ConfigurationError, match="redis:// URL"):
        build_guard(ServeConfig(**simulated, cache="memcached://x"))


@given(
    st.lists(st.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=4),
    st.text(max_size=30),
)
def test_keys_are_accepted_exactly_when_stored(keys: list[str], presented: str) -> None:
    store = KeyStore([hash_key(k) for k in keys])
    stored = {k.strip() for k in keys}
    assert store.accepts(f"Bearer {presented}") == (presented.strip() in stored)
    for key in stored:
        assert store.accepts(f"Bearer {key}") and store.accepts(f"bearer {key}")
        assert not store.accepts(key) and not store.accepts(f"Basic {key}")


def test_keys_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hex_key = "ab" * 32  # a plain key that looks like a digest: still a key in the file
    digest = hashlib.sha256(b"from-a-hash").hexdigest()
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# operators\nplain-one\n\n{hex_key}\nsha256:{digest}\n")
    monkeypatch.setenv("LLAMASHIELD_API_KEYS", "env-one, env-two")
    monkeypatch.setenv("LLAMASHIELD_API_KEY_HASHES", hash_key("env-hashed"))
    store = KeyStore.load([hash_key("config-one")], keys_file)
    assert len(store) == 7
    for key in ("plain-one", hex_key, "from-a-hash", "env-one", "env-two", "env-hashed",
                "config-one"):  # fmt: skip
        assert store.accepts(f"Bearer {key}"), key
    assert not store.accepts("Bearer # operators") and not store.accepts(f"Bearer {digest}")


def test_a_plain_key_given_as_a_hash_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        KeyStore(["my-secret-key"])
    assert "my-secret-key" not in str(caught.value) and "--hash-key" in str(caught.value)


def test_starting_without_keys_needs_no_auth_said(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamashield.serve import create_app

    monkeypatch.delenv("LLAMASHIELD_API_KEYS", raising=False)
    monkeypatch.delenv("LLAMASHIELD_API_KEY_HASHES", raising=False)
    with pytest.raises(ConfigurationError, match="--no-auth"):
        create_app(ServeConfig(backend="simulated"))
    assert create_app(ServeConfig(backend="simulated", no_auth=True)) is not None


@pytest.mark.parametrize("taxonomy", [LLAMA_GUARD_1, LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4])
def test_every_category_is_mapped_or_said_unmapped(taxonomy: Taxonomy) -> None:
    for category in taxonomy:
        mapped, unmapped = category.name in TO_OPENAI, category.name in UNMAPPED
        assert mapped != unmapped, category  # exactly one of the two
    assert all(set(names) <= set(OPENAI_CATEGORIES) and names for names in TO_OPENAI.values())


def test_the_docs_print_the_table() -> None:
    text = DOCS.read_text()
    for name, targets in TO_OPENAI.items():
        assert f"| {name} | {', '.join(targets)} |" in text, name
    for name in UNMAPPED:
        assert f"| {name} | (unmapped) |" in text, name


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import llamashield.serve as serve

    monkeypatch.delitem(sys.modules, "llamashield.serve.app", raising=False)
    for name in [m for m in sys.modules if m.split(".")[0] == "starlette"] + ["starlette"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'llamashield\[serve\]'"):
        serve.create_app  # noqa: B018


def test_a_config_file_that_cannot_be_read_or_is_no_table_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the serve config"):
        load_config(tmp_path / "missing.toml")
    listed = tmp_path / "serve.json"
    listed.write_text('["backend", "simulated"]')
    with pytest.raises(ConfigurationError, match="must hold a table of settings"):
        load_config(listed)


def test_a_together_key_alone_picks_together_and_a_threshold_asks_for_scores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("together")
    from llamashield.backends import TogetherBackend

    monkeypatch.setenv("TOGETHER_API_KEY", "sk-serve-config")
    with build_guard(ServeConfig(threshold=0.4, cache="none")) as guard:
        assert isinstance(guard.backend, TogetherBackend)
        assert guard.backend.capabilities.gives_scores
        assert guard.model == "meta-llama/LlamaGuard-2-8b"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"backend": "transformers"}, "backend 'transformers' needs model"),
        ({"backend": "openai", "model": "meta-llama/Llama-Guard-3-8B"}, "needs base_url and model"),
    ],
)
def test_a_backend_missing_what_it_needs_is_the_one_line_error(
    settings: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        build_guard(ServeConfig.model_validate(settings))


def test_the_openai_backend_takes_its_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamashield.testing import LoopbackServer

    with LoopbackServer(api_key="sk-backend-env") as server:
        monkeypatch.setenv("LLAMASHIELD_BACKEND_API_KEY", "sk-backend-env")
        config = ServeConfig(backend="openai", base_url=server.openai_base_url,
                             model="meta-llama/LlamaGuard-2-8b", cache="none")  # fmt: skip
        with build_guard(config) as guard:
            verdict = guard.check("How do I bake bread?")
    assert verdict.error is None and verdict.safe  # the server accepted the key
