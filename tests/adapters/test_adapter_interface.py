"""The adapters speak the core through ``llamashield.integration`` and public modules only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llamashield.integration as integration

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = [
    ROOT / "integrations" / "langchain" / "src" / "langchain_llamashield",
    ROOT / "integrations" / "llamaindex" / "src" / "llama_index" / "llamashield",
]


def _core_imports(path: Path) -> list[tuple[str, int]]:
    """Every ``llamashield`` module ``path`` imports (top level or inside functions)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [(m, node.lineno) for m in modules if m.split(".")[0] == "llamashield"]
    return found


SOURCES = sorted(p for folder in ADAPTERS for p in folder.rglob("*.py"))


def test_the_walk_sees_the_adapters() -> None:
    assert len(SOURCES) > 20
    assert any(_core_imports(p) for p in SOURCES)  # the walk would see an import


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_adapter_module_imports_a_private_core_module(path: Path) -> None:
    private = [
        f"{path.name}:{line} imports {module}"
        for module, line in _core_imports(path)
        if any(part.startswith("_") for part in module.split("."))
    ]
    assert not private, "use llamashield.integration (or a public module): " + "; ".join(private)


def test_the_interface_exports_what_it_lists() -> None:
    assert integration.INTERFACE_VERSION >= 1
    assert sorted(integration.__all__) == sorted(set(integration.__all__))
    for name in integration.__all__:
        assert getattr(integration, name) is not None, name


def test_a_private_import_would_be_caught(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from llamashield._plan import Call\n    return Call\n")
    assert _core_imports(planted) == [("llamashield._plan", 2)]
