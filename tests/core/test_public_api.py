"""The public surface: explicit ``__all__`` lists, every name importable, nothing private."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = ["llamashield", "llamashield.backends", "llamashield.testing"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_resolve_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=str) or len(exported) == len(set(exported))
    for attribute in exported:
        assert getattr(module, attribute) is not None, attribute
    assert not [a for a in exported if a.startswith("_") and a != "__version__"]


def test_core_exports_match_the_design() -> None:
    import llamashield

    for name in ["LlamaGuard", "Verdict", "Category", "UnsafeContentError", "LlamaShieldError",
                 "GuardUnavailableError", "VerdictParseError", "ConfigurationError",
                 "LLAMA_GUARD_1", "LLAMA_GUARD_2", "LLAMA_GUARD_3", "LLAMA_GUARD_4"]:  # fmt: skip
        assert name in llamashield.__all__


def test_exception_tree() -> None:
    from llamashield import (
        ConfigurationError,
        GuardUnavailableError,
        LlamaShieldError,
        UnsafeContentError,
        VerdictParseError,
    )

    for error in (UnsafeContentError, GuardUnavailableError, VerdictParseError, ConfigurationError):
        assert issubclass(error, LlamaShieldError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    import llamashield

    with pytest.raises(AttributeError):
        _ = llamashield.NoSuchThing


def test_importing_the_package_loads_no_sdk_or_framework() -> None:
    code = (
        "import sys, llamashield, llamashield.backends; "
        "from llamashield import LlamaGuard; "
        "bad = [m for m in ('together', 'torch', 'transformers', 'langchain_core', "
        "'llama_index.core', 'pydantic') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pydantic"  # Verdict is a pydantic model; nothing heavier


def test_the_version_is_written_once_in_pyproject() -> None:
    import tomllib
    from pathlib import Path

    import llamashield

    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    written = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert llamashield.__version__ == written
    init = Path(llamashield.__file__).read_text()
    assert written not in init  # read from the package metadata, not written a second time
