"""The in-process verdict cache against a model of it: the most recently used ``maxsize``
verdicts stay, each read back marked ``cached``; a verdict decided by an error is never kept."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import ConfigurationError, Verdict
from llamashield._cache import LRUVerdictCache, resolve_cache

keys = st.sampled_from([f"k{i}" for i in range(6)])
verdicts = st.builds(
    Verdict,
    safe=st.booleans(),
    raw=st.sampled_from(["safe", "unsafe\nS1"]),
    error=st.sampled_from([None, None, "timeout"]),
)
operations = st.lists(
    st.one_of(st.tuples(st.just("put"), keys, verdicts), st.tuples(st.just("get"), keys)),
    max_size=60,
)


@given(maxsize=st.integers(1, 4), script=operations)
def test_the_cache_keeps_the_most_recently_used_verdicts(
    maxsize: int, script: list[tuple[object, ...]]
) -> None:
    cache = LRUVerdictCache(maxsize)
    model: OrderedDict[str, Verdict] = OrderedDict()
    for operation in script:
        if operation[0] == "put":
            _, key, verdict = operation
            assert isinstance(key, str) and isinstance(verdict, Verdict)
            cache.put(key, verdict)
            if verdict.error is None:
                model[key] = verdict
                model.move_to_end(key)
                while len(model) > maxsize:
                    model.popitem(last=False)
        else:
            key = str(operation[1])
            got = cache.get(key)
            expected = model.get(key)
            if expected is None:
                assert got is None
            else:
                model.move_to_end(key)
                assert got == expected.model_copy(update={"cached": True})
        assert len(cache) == len(model) <= maxsize


async def test_async_reads_and_writes_are_the_same_cache() -> None:
    cache = LRUVerdictCache(2)
    await cache.aput("a", Verdict(safe=False, raw="unsafe\nS1"))
    assert cache.get("a") == await cache.aget("a")
    assert (await cache.aget("a")) is not None
    cache.clear()
    assert len(cache) == 0 and await cache.aget("a") is None


@pytest.mark.parametrize(
    ("setting", "size"), [(True, 1024), (7, 7), (0, None), (False, None), (None, None)]
)
def test_cache_settings_resolve_to_a_cache_of_that_size_or_none(
    setting: bool | int | None, size: int | None
) -> None:
    cache = resolve_cache(setting)
    assert (cache.maxsize if isinstance(cache, LRUVerdictCache) else cache) == size


@pytest.mark.parametrize("setting", ["big", -1])
def test_a_cache_setting_that_is_no_cache_is_refused(setting: object) -> None:
    with pytest.raises(ConfigurationError):
        resolve_cache(setting)  # type: ignore[arg-type]
