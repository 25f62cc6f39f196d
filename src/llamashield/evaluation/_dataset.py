"""Labelled rows to evaluate a guard on: JSONL, JSON, CSV/TSV, or a Hugging Face data set.

A row has a ``prompt``, an optional ``response`` (then the response is judged, as the Agent
turn), a ``label`` (safe/unsafe) and optional ``categories`` (a list, or a string split on
``,``/``;``/``|``; codes or names of the guard's taxonomy, or another scheme through a
``CategoryMapping``). Column names are configurable with ``ColumnMap``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from llamashield._taxonomy import LLAMA_GUARD_2, Taxonomy
from llamashield.evaluation._mapping import CategoryMapping, mapping_between

__all__ = ["ColumnMap", "DatasetError", "EvalRow", "load_rows", "load_sample", "parse_label"]

SAMPLE_GENERATION = 2  # the shipped sample is labelled with Llama Guard 2 codes

_UNSAFE = frozenset({"unsafe", "1", "true", "yes", "harmful", "flagged", "toxic"})
_SAFE = frozenset({"safe", "0", "false", "no", "unharmful", "harmless", "benign", "not flagged"})
_SPLIT = re.compile(r"[,;|]")


class DatasetError(ValueError):
    """A data set row or file cannot be read; the message names the row and what to change."""


@dataclass(frozen=True, slots=True)
class EvalRow:
    """One labelled example.

    Example::

        >>> row = EvalRow("r1", "How do I pick a lock?", None, unsafe=False)
        >>> row.role, row.label
        ('user', 'safe')
    """

    id: str
    prompt: str
    response: str | None
    unsafe: bool
    categories: tuple[str, ...] = ()  # codes of the guard's taxonomy

    @property
    def role(self) -> Literal["user", "agent"]:
        return "user" if self.response is None else "agent"

    @property
    def label(self) -> Literal["safe", "unsafe"]:
        return "unsafe" if self.unsafe else "safe"

    def conversation(self) -> list[dict[str, str]]:
        """The messages the guard judges: the prompt, then the response when there is one."""
        messages = [{"role": "user", "content": self.prompt}]
        if self.response is not None:
            messages.append({"role": "assistant", "content": self.response})
        return messages


@dataclass(frozen=True)
class ColumnMap:
    """Which fields hold what, and which label values mean unsafe.

    ``unsafe_values`` replaces the default reading of labels (safe/unsafe, 0/1, true/false,
    harmful/unharmful...) with "unsafe exactly when the value is one of these", e.g.
    ``ColumnMap(label="is_safe", unsafe_values={"false"})`` for BeaverTails-style data.
    """

    prompt: str = "prompt"
    response: str | None = "response"
    label: str = "label"
    categories: str | None = "categories"
    id: str | None = "id"
    unsafe_values: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.unsafe_values is not None:
            values = frozenset(str(v).strip().casefold() for v in self.unsafe_values)
            object.__setattr__(self, "unsafe_values", values)


def parse_label(value: Any, unsafe_values: frozenset[str] | None = None) -> bool:
    """True for unsafe. Numbers and booleans are "is unsafe" flags (1/True mean unsafe)."""
    text = str(value).strip().casefold()
    if unsafe_values is not None:
        return text in unsafe_values
    if text in _UNSAFE:
        return True
    if text in _SAFE:
        return False
    raise ValueError(
        f"label {value!r} is neither safe nor unsafe; use safe/unsafe (or 0/1), or name the "
        "unsafe values with --unsafe-label"
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN: pandas' empty cell
        return None
    text = str(value)
    return text if text.strip() else None


def _category_items(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a JSON list written into a CSV cell
            try:
                return _category_items(json.loads(text))
            except json.JSONDecodeError:
                pass
        return [item.strip() for item in _SPLIT.split(text) if item.strip()]
    if isinstance(value, Iterable):
        return [str(item).strip() for item in value if str(item).strip()]
    raise ValueError(f"categories must be a list or a comma-separated string, got {value!r}")


def _map_categories(
    items: list[str], taxonomy: Taxonomy, mapping: CategoryMapping | None
) -> tuple[str, ...]:
    codes: list[str] = []
    for item in items:
        if mapping is not None:
            codes.extend(mapping.map(item))
            continue
        try:
            codes.append(taxonomy.resolve(item).code)
        except KeyError:
            raise ValueError(
                f"category {item!r} is not in Llama Guard {taxonomy.generation} "
                f"({', '.join(taxonomy.codes)}); labels in another scheme need a mapping "
                "(--mapping lg3-lg2, openai-lg2 or a file)"
            ) from None
    return tuple(dict.fromkeys(codes))


def parse_row(
    record: Mapping[str, Any],
    where: str,
    *,
    columns: ColumnMap,
    taxonomy: Taxonomy,
    mapping: CategoryMapping | None,
) -> EvalRow:
    """Build one ``EvalRow`` from a record; ``where`` ("file.jsonl:12") goes in every error."""
    try:
        if columns.prompt not in record or columns.label not in record:
            missing = [c for c in (columns.prompt, columns.label) if c not in record]
            raise ValueError(
                f"no column {' or '.join(map(repr, missing))} (columns: "
                f"{', '.join(map(str, record))}); choose others with --prompt-column / "
                "--label-column"
            )
        prompt = _text(record[columns.prompt])
        if prompt is None:
            raise ValueError("the prompt is empty")
        response = _text(record.get(columns.response)) if columns.response else None
        unsafe = parse_label(record[columns.label], columns.unsafe_values)
        items = _category_items(record.get(columns.categories)) if columns.categories else []
        if items and not unsafe:
            raise ValueError(f"labelled safe but lists categories {items}")
        codes = _map_categories(items, taxonomy, mapping)
        raw_id = record.get(columns.id) if columns.id else None
        row_id = str(raw_id) if raw_id not in (None, "") else where.rsplit(":", 1)[-1]
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise DatasetError(f"{where}: {message}") from None
    return EvalRow(row_id, prompt, response, unsafe, codes)


def _jsonl_records(text: str, name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{name}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, Mapping):
            raise DatasetError(f"{name}:{number}: each line must be a JSON object")
        yield f"{name}:{number}", record


def _json_records(text: str, name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{name}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise DatasetError(f"{name}: a .json data set must be a list of objects (or use .jsonl)")
    for number, record in enumerate(data, start=1):
        yield f"{name}:{number}", record


def _csv_records(text: str, name: str, delimiter: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for record in reader:
        # line_num is the reader's physical line: right even when a quoted cell spans lines
        yield f"{name}:{reader.line_num}", record


def _hf_records(
    source: str, split: str | None, subset: str | None, data_files: str | None = None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise DatasetError(
            f"{data_files or source!r} is not a .jsonl/.json/.csv/.tsv file; to read Parquet "
            "or a Hugging Face data set by name or folder, pip install datasets"
        ) from None
    if data_files is not None:
        loaded: Any = datasets.load_dataset(source, data_files=data_files, split=split or "train")
        split = split or "train"
    else:
        loaded = datasets.load_dataset(source, subset, split=split)
    if split is None and isinstance(loaded, Mapping):
        splits = list(loaded.keys())
        if "test" in loaded:
            split = "test"
        elif len(splits) == 1:
            split = splits[0]
        else:
            raise DatasetError(f"{source}: choose a split with --split ({', '.join(splits)})")
        loaded = loaded[split]
    for number, record in enumerate(loaded, start=1):
        yield f"{source}[{split or ''}]:{number}", record


def _records(
    source: str | Path, split: str | None, subset: str | None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    path = Path(source)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in {".jsonl", ".ndjson", ".json", ".csv", ".tsv"}:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Excel's CSVs start with a BOM
        if suffix == ".json":
            return _json_records(text, path.name)
        if suffix in {".csv", ".tsv"}:
            return _csv_records(text, path.name, "\t" if suffix == ".tsv" else ",")
        return _jsonl_records(text, path.name)
    if path.is_file() and suffix == ".parquet":
        return _hf_records("parquet", split, None, data_files=str(path))
    if path.is_file():
        raise DatasetError(
            f"{path}: unknown format {suffix!r}; use .jsonl, .json, .csv, .tsv or .parquet"
        )
    return _hf_records(str(source), split, subset)


def _collect(
    records: Iterator[tuple[str, Mapping[str, Any]]],
    columns: ColumnMap,
    taxonomy: Taxonomy,
    mapping: CategoryMapping | None,
    limit: int | None,
) -> list[EvalRow]:
    if mapping is not None:
        mapping.check_target(taxonomy)
    rows: list[EvalRow] = []
    for where, record in records:
        if limit is not None and len(rows) >= limit:
            break
        rows.append(parse_row(record, where, columns=columns, taxonomy=taxonomy, mapping=mapping))
    if not rows:
        raise DatasetError("the data set has no rows")
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise DatasetError(f"row id {row.id!r} appears twice; ids must be unique")
        seen.add(row.id)
    return rows


def load_rows(
    source: str | Path,
    *,
    taxonomy: Taxonomy = LLAMA_GUARD_2,
    columns: ColumnMap | None = None,
    mapping: CategoryMapping | None = None,
    limit: int | None = None,
    split: str | None = None,
    subset: str | None = None,
) -> list[EvalRow]:
    """Read labelled rows from a file, or a Hugging Face data set when ``datasets`` is installed.

    Example::

        rows = load_rows("labelled.csv", columns=ColumnMap(prompt="text", label="is_unsafe"))
        rows = load_rows("lg3_labels.jsonl", mapping=load_mapping("lg3-lg2"))
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return _collect(
        _records(source, split, subset), columns or ColumnMap(), taxonomy, mapping, limit
    )


def sample_text() -> str:
    """The shipped sample set (JSONL), hand-written and synthetic."""
    return resources.files("llamashield").joinpath("data", "sample.jsonl").read_text("utf-8")


def load_sample(taxonomy: Taxonomy = LLAMA_GUARD_2, *, limit: int | None = None) -> list[EvalRow]:
    """The shipped ~60-row sample, its Llama Guard 2 labels mapped onto ``taxonomy``.

    Example::

        from llamashield.evaluation import evaluate, load_sample
        report = evaluate(guard, load_sample(guard.taxonomy))
    """
    mapping = mapping_between(SAMPLE_GENERATION, taxonomy)
    records = _jsonl_records(sample_text(), "sample.jsonl")
    return _collect(records, ColumnMap(), taxonomy, mapping, limit)
