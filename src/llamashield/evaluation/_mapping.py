"""Map a data set's categories from another scheme onto the guard's taxonomy.

Labelled data rarely speaks the model's taxonomy: Llama Guard 3 codes differ from Llama Guard 2
from S5 on, and OpenAI's moderation names are a different scheme altogether. A mapping file
says where each source category lands::

    {
      "description": "my labels onto Llama Guard 2",
      "target": 2,
      "categories": {"violence": "S1", "hate/threatening": ["S9", "S1"], "spam": []}
    }

A value is one target code (or name), a list of them, or ``[]``/``null`` for "no equivalent"
(the row stays unsafe but counts for no category). Source keys match case-insensitively. A
category missing from the file is an error: a silent pass-through would read "S5" as Specialized
Advice when it meant Defamation. Built-in mappings: ``lg3-lg2`` (also for Llama Guard 4 codes),
``openai-lg2``, and ``lg2-lg1``/``lg2-lg3``/``lg2-lg4`` (used to read the shipped sample with
another generation's model).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llamashield._taxonomy import (
    LG2_TO_LG1,
    LG2_TO_LG3,
    LLAMA_GUARD_2,
    Taxonomy,
    taxonomy_for_generation,
)

__all__ = ["BUILTIN_MAPPINGS", "CategoryMapping", "load_mapping", "mapping_between"]

_FILES = {"lg3-lg2": "lg3-lg2.json", "lg4-lg2": "lg3-lg2.json", "openai-lg2": "openai-lg2.json"}
BUILTIN_MAPPINGS: tuple[str, ...] = (*_FILES, "lg2-lg1", "lg2-lg3", "lg2-lg4")


@dataclass(frozen=True)
class CategoryMapping:
    """Source category (casefolded) -> codes in the target taxonomy.

    Example::

        >>> mapping = load_mapping("lg3-lg2")
        >>> mapping.map("S10"), mapping.map("S5")      # Hate moved; Defamation has no LG2 code
        (('S9',), ())
    """

    name: str
    target: Taxonomy
    table: Mapping[str, tuple[str, ...]]
    description: str = ""

    def map(self, category: str) -> tuple[str, ...]:
        try:
            return self.table[category.strip().casefold()]
        except KeyError:
            known = ", ".join(sorted(self.table))
            raise KeyError(
                f"category {category!r} is not in the mapping {self.name!r}; add it to the "
                f"mapping file (known: {known})"
            ) from None

    def check_target(self, taxonomy: Taxonomy) -> None:
        """Refuse a mapping onto another generation than the guard judges with."""
        if taxonomy.custom:
            unknown = {c for codes in self.table.values() for c in codes} - set(taxonomy.codes)
            if unknown:
                raise ValueError(
                    f"mapping {self.name!r} targets codes {sorted(unknown)} that the guard's "
                    "custom policy does not have"
                )
        elif taxonomy.generation != self.target.generation:
            raise ValueError(
                f"mapping {self.name!r} maps onto Llama Guard {self.target.generation} but the "
                f'guard uses Llama Guard {taxonomy.generation}; pick a mapping whose "target" '
                f"is {taxonomy.generation}"
            )


def parse_mapping(data: Any, name: str) -> CategoryMapping:
    """Validate a mapping document (the parsed JSON/YAML) and build the mapping."""
    if not isinstance(data, Mapping) or not isinstance(data.get("categories"), Mapping):
        raise ValueError(
            f'mapping {name!r} must be an object with a "categories" object '
            '(source category -> target code or list of codes) and a "target" generation'
        )
    target_value = data.get("target", 2)
    if isinstance(target_value, str):
        target_value = target_value.lower().removeprefix("llama-guard-").removeprefix("lg")
    try:
        target = taxonomy_for_generation(int(target_value))
    except (TypeError, ValueError):
        raise ValueError(
            f'mapping {name!r}: "target" must be a Llama Guard generation 1-4, '
            f"got {data.get('target')!r}"
        ) from None
    table: dict[str, tuple[str, ...]] = {}
    for source, value in data["categories"].items():
        items = [] if value is None else [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(
                f"mapping {name!r}: {source!r} must map to a code, a list of codes or null, "
                f"got {value!r}"
            )
        try:
            codes = tuple(dict.fromkeys(target.resolve(i).code for i in items))
        except KeyError as exc:
            raise ValueError(f"mapping {name!r}, category {source!r}: {exc.args[0]}") from None
        table[str(source).strip().casefold()] = codes
    return CategoryMapping(name, target, table, str(data.get("description", "")))


def _from_lg2(table: Mapping[str, str], generation: int) -> CategoryMapping:
    rows = {
        code.casefold(): ((table[code],) if code in table else ()) for code in LLAMA_GUARD_2.codes
    }
    return CategoryMapping(
        f"lg2-lg{generation}",
        taxonomy_for_generation(generation),
        rows,
        f"Llama Guard 2 codes onto Llama Guard {generation}",
    )


def mapping_between(source_generation: int, taxonomy: Taxonomy) -> CategoryMapping | None:
    """The built-in mapping from one generation's codes to ``taxonomy``; None when equal."""
    if taxonomy.custom or source_generation == taxonomy.generation:
        return None
    if {source_generation, taxonomy.generation} == {3, 4}:
        return None  # Llama Guard 4's S1-S13 are Llama Guard 3's (3 8B adds S14)
    name = f"lg{source_generation}-lg{taxonomy.generation}"
    if name not in BUILTIN_MAPPINGS:
        raise ValueError(f"no built-in mapping {name}; pass a mapping file")
    return load_mapping(name)


def _read_document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            import yaml
        except ImportError:
            raise ImportError(
                f"reading {path.name} needs PyYAML (pip install pyyaml), or write the mapping "
                "as JSON"
            ) from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"mapping file {path} is not valid JSON: {exc}") from None


def load_mapping(name_or_path: str | Path) -> CategoryMapping:
    """A built-in mapping by name (``"lg3-lg2"``, ``"openai-lg2"``...) or a JSON/YAML file."""
    key = str(name_or_path)
    if key == "lg2-lg1":
        return _from_lg2(LG2_TO_LG1, 1)
    if key in {"lg2-lg3", "lg2-lg4"}:
        return _from_lg2(LG2_TO_LG3, int(key[-1]))
    if key in _FILES:
        folder = resources.files("llamashield.evaluation").joinpath("mappings")
        text = folder.joinpath(_FILES[key]).read_text("utf-8")
        return parse_mapping(json.loads(text), key)
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no mapping file {key!r}; pass a JSON/YAML file or one of: "
            f"{', '.join(BUILTIN_MAPPINGS)}"
        )
    return parse_mapping(_read_document(path), path.name)
