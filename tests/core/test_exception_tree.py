"""One exception tree: every public error is a ``LlamaShieldError``, defined and documented in
``llamashield._exceptions``; every bad ``LlamaGuard(...)`` setting is a ``ConfigurationError``."""

from __future__ import annotations

import importlib
import math
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import (
    LLAMA_GUARD_2,
    Category,
    CircuitBreaker,
    ConfigurationError,
    LlamaGuard,
    LlamaShieldError,
)
from llamashield import _exceptions as exceptions
from llamashield._media import ImageLimits
from llamashield.backends import SimulatedBackend

# Every public module of the core and of both adapters: their ``__all__`` is the public surface.
PUBLIC_MODULES = [
    "llamashield",
    "llamashield.backends",
    "llamashield.cache",
    "llamashield.evaluation",
    "llamashield.safety_model",
    "llamashield.streaming",
    "llamashield.testing",
    "langchain_llamashield",
    "llama_index.llamashield",
]


def _public_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in [*PUBLIC_MODULES, "llamashield._exceptions"]:
        module = importlib.import_module(name)
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if isinstance(value, type) and issubclass(value, BaseException):
                found[f"{name}.{attribute}"] = value
    return found


def test_every_public_exception_is_a_llamashield_error() -> None:
    found = _public_exceptions()
    outside = sorted(
        name for name, error in found.items() if not issubclass(error, LlamaShieldError)
    )
    assert outside == []
    # The walk reaches the errors of the core, the backends and the evaluation package.
    names = {error.__name__ for error in found.values()}
    assert {"UnsafeContentError", "BackendError", "DatasetError", "BatchMismatchError"} <= names


def test_every_public_exception_is_defined_in_one_module() -> None:
    # Defined there (their ``__module__`` names the public module users import them from).
    elsewhere = sorted(
        name
        for name, error in _public_exceptions().items()
        if vars(exceptions).get(error.__name__) is not error
    )
    assert elsewhere == []


def test_the_module_docstring_draws_the_whole_tree() -> None:
    doc = exceptions.__doc__ or ""
    tree = {m.group(1) for m in re.finditer(r"[├└]── (\w+)", doc)}
    defined = {
        name
        for name in exceptions.__all__
        if isinstance(getattr(exceptions, name), type)
        and issubclass(getattr(exceptions, name), LlamaShieldError)
    }
    assert tree == defined - {"LlamaShieldError"}
    # ... and where each sits in it: an error drawn under another derives from it.
    assert issubclass(exceptions.SourceError, exceptions.DatasetError)


@pytest.mark.parametrize(
    "name",
    ["ConfigurationError", "UnjudgeableContent", "ImageRejected", "DatasetError",
     "SourceError", "BatchMismatchError"],
)  # fmt: skip
def test_errors_for_bad_values_are_also_value_errors(name: str) -> None:
    assert issubclass(getattr(exceptions, name), ValueError)


# ``kind="..."`` within a ``BackendError(...)`` or ``BackendFailure(...)`` call (mypy checks
# each against the Literal).
_KIND = re.compile(
    r'Backend(?:Error|Failure)\((?:(?!Backend(?:Error|Failure)\().){0,400}?kind="(\w+)"', re.S
)


def test_backend_error_kinds_are_the_ones_raised() -> None:
    """``FailureKind`` lists every ``kind=`` the sources pass, and nothing they never pass."""
    kinds = set(typing.get_args(exceptions.FailureKind))
    root = Path(exceptions.__file__).parent
    used = {m.group(1) for path in root.rglob("*.py") for m in _KIND.finditer(path.read_text())}
    assert used and used <= kinds
    assert kinds - used <= {"error"}  # the default, for a failure of no more precise kind


# -- LlamaGuard(bad setting) -----------------------------------------------------------------

not_a_number = st.one_of(st.text(max_size=5), st.none(), st.booleans(), st.just([1]))
not_an_int = st.one_of(not_a_number, st.floats(allow_nan=True))


def _not_a_category(name: str) -> bool:
    try:
        LLAMA_GUARD_2.resolve(name)  # SimulatedBackend's taxonomy
    except KeyError:
        return True
    return False


def _count_below(least: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(max_value=least - 1), not_an_int)


BAD_SETTINGS: dict[str, st.SearchStrategy[Any]] = {
    "timeout": st.one_of(
        st.floats(max_value=0), st.just(math.nan), st.text(max_size=5), st.none(), st.booleans()
    ),
    "max_retries": _count_below(0),
    "max_concurrency": _count_below(1),
    "max_chars": _count_below(1),
    "chunk_chars": _count_below(2),
    "chunk_overlap": st.one_of(st.integers(max_value=-1), st.integers(8_000, 10**6), not_an_int),
    "on_error": st.one_of(
        st.text(max_size=8).filter(lambda s: s not in ("block", "allow", "raise")), st.none()
    ),
    "threshold": st.one_of(
        st.floats().filter(lambda x: not 0 <= x <= 1), st.text(max_size=3), st.booleans()
    ),
    "categories": st.one_of(
        st.just([]),
        st.from_regex(r"S(1[5-9]|[2-9][0-9])", fullmatch=True).map(lambda c: [c]),
        st.text(min_size=1, max_size=8).filter(_not_a_category).map(lambda s: [s]),
        st.just(["S1", Category("S2", "Mine")]),
        st.just([Category("S1", "A"), Category("S1", "B")]),
        st.integers(),
        st.just([3]),
    ),
    "taxonomy": st.one_of(
        st.integers().filter(lambda n: n not in (1, 2, 3, 4)), st.text(max_size=5), st.booleans()
    ),
    "media": st.text(max_size=8).filter(lambda s: s not in ("judge", "block", "text_only")),
    "max_images": st.integers(1, 10),  # media="block": image limits do not apply
    "max_image_bytes": st.integers(1, 10),
    "cache": st.one_of(st.integers(max_value=-1), st.text(max_size=5), st.floats()),
    "circuit_breaker": st.one_of(st.text(max_size=5), st.integers(), st.just(object())),
    "model": st.text(max_size=5),  # with a backend: the model belongs to the backend
    "exclude_from_prompt": st.just(True),  # without categories=
}


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_bad_setting_is_a_configuration_error(data: st.DataObject) -> None:
    setting = data.draw(st.sampled_from(sorted(BAD_SETTINGS)), label="setting")
    value = data.draw(BAD_SETTINGS[setting], label="value")
    with pytest.raises(ConfigurationError) as caught:
        LlamaGuard(SimulatedBackend(), **{setting: value})
    # The message names what to change (a generation is what an int taxonomy= gives).
    named = "generation" if setting == "taxonomy" else setting.split("_")[0]
    assert named in str(caught.value).lower() or setting in str(caught.value)


def test_a_backend_without_complete_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="lacks model, taxonomy, capabilities, complete"):
        LlamaGuard(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [lambda: CircuitBreaker(failures=0), lambda: CircuitBreaker(cooldown=0),
     lambda: ImageLimits(max_images=0), lambda: ImageLimits(formats=frozenset({"image/bmp"}))],
)  # fmt: skip
def test_the_setting_objects_refuse_bad_values_the_same_way(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_good_settings_still_build_a_guard() -> None:
    guard = LlamaGuard(
        SimulatedBackend(), timeout=0.5, max_retries=0, max_concurrency=1, max_chars=1,
        chunk_chars=2, chunk_overlap=0, on_error="allow", threshold=0.0, categories=["S1"],
        taxonomy=2, cache=3, circuit_breaker=None,
    )  # fmt: skip
    assert guard.check("hello").safe
