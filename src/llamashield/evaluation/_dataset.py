"""Labelled rows to evaluate a guard on: JSONL, JSON, CSV/TSV (plain or compressed), standard
input, a Hugging Face data set, or a public benchmark through a preset.

A row has a ``prompt``, an optional ``response`` (then the response is judged, as the Agent
turn), a ``label`` (safe/unsafe), optional ``categories`` (a list, or a string split on
``,``/``;``/``|``; codes or names of the guard's taxonomy, or another scheme through a
``CategoryMapping``) and an optional ``group`` (a slice the report breaks metrics down by).
Column names are configurable with ``ColumnMap``; presets (``_presets.py``) read published
benchmarks as they are.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from llamashield._exceptions import DatasetError, SourceError
from llamashield._taxonomy import LLAMA_GUARD_2, Taxonomy
from llamashield.evaluation._mapping import (
    CategoryMapping,
    load_mapping,
    mapping_between,
    mapping_onto,
)
from llamashield.evaluation._presets import (
    NOTES,
    Preset,
    SkipRecord,
    StandardRecord,
    get_preset,
    matching_presets,
)
from llamashield.evaluation._report_model import DatasetSummary
from llamashield.evaluation._sources import Records, jsonl_records, records

__all__ = [
    "ColumnMap",
    "DatasetError",
    "EvalRow",
    "LoadedRows",
    "load_rows",
    "load_sample",
    "parse_label",
]

SAMPLE_GENERATION = 2  # the shipped sample is labelled with Llama Guard 2 codes

_UNSAFE = frozenset({"unsafe", "1", "true", "yes", "harmful", "flagged", "toxic"})
_SAFE = frozenset({"safe", "0", "false", "no", "unharmful", "harmless", "benign", "not flagged"})
_SPLIT = re.compile(r"[,;|]")


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
    group: str | None = None  # a slice of the data set (XSTest's prompt type...)

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
    group: str | None = None

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
            raise ValueError(_missing_columns(missing, record))
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
        group = _text(record.get(columns.group)) if columns.group else None
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise DatasetError(f"{where}: {message}") from None
    return EvalRow(row_id, prompt, response, unsafe, codes, group)


def _missing_columns(missing: list[str], record: Mapping[str, Any]) -> str:
    found = ", ".join(map(str, record)) or "none"
    message = f"no column {' or '.join(map(repr, missing))} (columns found: {found})"
    presets = matching_presets(list(record))
    if presets:
        return f"{message}; these columns match the preset(s) {', '.join(presets)}: use --preset"
    return f"{message}; choose others with --prompt-column / --label-column, or a --preset"


_PRESET_COLUMNS = ColumnMap(group="group")


class LoadedRows(list[EvalRow]):
    """The rows ``load_rows`` read, with ``summary``: records read, skipped (and why), counts.

    A plain list in every other way; ``evaluate`` copies the summary into the report, so
    ``report.json`` says what was read and what was left out.
    """

    summary: DatasetSummary

    def __init__(self, rows: Iterable[EvalRow], summary: DatasetSummary) -> None:
        super().__init__(rows)
        self.summary = summary


@dataclass
class _Tally:
    """What reading one source came to (the mutable side of ``DatasetSummary``)."""

    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)

    def counted(self, source: Records) -> Records:
        for item in source:
            self.records += 1
            yield item

    def summary(self, rows: list[EvalRow], preset: str | None, limit: int | None) -> DatasetSummary:
        sizes = set(Counter(row.group for row in rows if row.group is not None).values())
        return DatasetSummary(
            preset=preset, records_read=self.records, rows=len(rows),
            unsafe=sum(row.unsafe for row in rows), skipped=dict(self.skipped),
            counts=dict(self.counts), limit=limit,
            groups=len({row.group for row in rows if row.group is not None}),
            rows_per_group=sizes.pop() if len(sizes) == 1 else None,
        )  # fmt: skip


def _not_published(where: str, preset: Preset, record: Mapping[str, Any], lacks: str) -> str:
    found = ", ".join(map(str, record)) or "none"
    others = [p for p in matching_presets(list(record)) if p != preset.name]
    hint = f"; they match the preset(s) {', '.join(others)}" if others else ""
    return f"{where}: not {preset.title} as published: {lacks} (columns found: {found}){hint}"


def _preset_records(records_in: Records, preset: Preset, tally: _Tally) -> Records:
    """Each published record expanded into the loader's own shape (a record may give two rows)."""
    for where, record in tally.counted(records_in):
        lacks = preset.missing(list(record))
        if lacks is not None:
            raise DatasetError(_not_published(where, preset, record, lacks))
        try:
            expanded: list[StandardRecord] = preset.expand(record)
        except SkipRecord as skip:
            tally.skipped[skip.reason] += 1
            continue
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{where}: {exc.args[0] if exc.args else exc}") from None
        for note in expanded[0].get(NOTES, ()) if expanded else ():
            tally.counts[note] += 1
        for index, row in enumerate(expanded):
            yield (where if len(expanded) == 1 else f"{where}#{index + 1}"), row
    for reason, count in tally.skipped.items():
        warnings.warn(f"{preset.title}: {count} record(s) skipped ({reason})", stacklevel=2)


def _refuse_published_shapes(records_in: Records) -> Records:
    """Read with the default columns, a published benchmark (XSTest has ``prompt`` and
    ``label``) would run as plain rows without its groups or measure: name the preset instead."""
    first = True
    for where, record in records_in:
        if first and (presets := matching_presets(list(record))):
            found = ", ".join(map(str, record))
            raise DatasetError(
                f"{where}: {get_preset(presets[0]).title} as published (columns found: {found}); "
                f"these columns match the preset(s) {', '.join(presets)}: use --preset "
                f"{presets[0]} (load_rows(..., preset={presets[0]!r})), or name the columns "
                "(--prompt-column, --label-column) to read plain rows"
            )
        first = False
        yield where, record


def _preset_mapping(preset: Preset, taxonomy: Taxonomy) -> CategoryMapping:
    return mapping_onto(load_mapping(preset.mapping), taxonomy)


def _collect(
    records: Records,
    columns: ColumnMap,
    taxonomy: Taxonomy,
    mapping: CategoryMapping | None,
    limit: int | None,
) -> list[EvalRow]:
    if mapping is not None:
        mapping.check_target(taxonomy)
    rows: list[EvalRow] = []
    for where, record in records:
        rows.append(parse_row(record, where, columns=columns, taxonomy=taxonomy, mapping=mapping))
        if limit is not None and len(rows) >= limit:
            break  # before reading another record: the summary counts only what was read
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
    preset: str | Preset | None = None,
) -> LoadedRows:
    """Read labelled rows from a file (plain, .gz, .bz2, .xz or .zst), standard input (``"-"``),
    or a Hugging Face data set when ``datasets`` is installed.

    ``preset`` reads a public benchmark as published (``"openai"``, ``"toxicchat"``,
    ``"beavertails"``, ``"aegis2"``, ``"xstest"``): its columns, labels and a category mapping
    onto ``taxonomy`` (``mapping=`` overrides that mapping; ``columns=`` does not apply).
    Without a preset and without ``columns=``, a file in a published benchmark's shape is
    refused with the preset's name (read as plain rows it would lose the benchmark's groups).
    The result's ``summary`` counts records read, rows, unsafe rows and records skipped.

    Example::

        rows = load_rows("labelled.csv", columns=ColumnMap(prompt="text", label="is_unsafe"))
        rows = load_rows("lg3_labels.jsonl", mapping=load_mapping("lg3-lg2"))
        rows = load_rows("samples-1680.jsonl.gz", preset="openai", taxonomy=guard.taxonomy)
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    tally = _Tally()
    try:
        source_records = records(source, split, subset)
        if preset is None:
            plain = tally.counted(source_records)
            plain = plain if columns is not None else _refuse_published_shapes(plain)
            rows = _collect(plain, columns or ColumnMap(), taxonomy, mapping, limit)
            return LoadedRows(rows, tally.summary(rows, None, limit))
        chosen = get_preset(preset) if isinstance(preset, str) else preset
        if columns is not None:
            raise ValueError(f"the {chosen.name} preset names its own columns; drop columns=")
        rows_in = _preset_records(source_records, chosen, tally)
        chosen_mapping = mapping or _preset_mapping(chosen, taxonomy)
        rows = _collect(rows_in, _PRESET_COLUMNS, taxonomy, chosen_mapping, limit)
        return LoadedRows(rows, tally.summary(rows, chosen.name, limit))
    except SourceError as exc:
        raise DatasetError(str(exc)) from None


def sample_text() -> str:
    """The shipped sample set (JSONL), hand-written and synthetic."""
    return resources.files("llamashield").joinpath("data", "sample.jsonl").read_text("utf-8")


def load_sample(taxonomy: Taxonomy = LLAMA_GUARD_2, *, limit: int | None = None) -> LoadedRows:
    """The shipped ~60-row sample, its Llama Guard 2 labels mapped onto ``taxonomy``.

    Example::

        from llamashield.evaluation import evaluate, load_sample
        report = evaluate(guard, load_sample(guard.taxonomy))
    """
    mapping = mapping_between(SAMPLE_GENERATION, taxonomy)
    tally = _Tally()
    records_in = tally.counted(jsonl_records(sample_text(), "sample.jsonl"))
    rows = _collect(records_in, ColumnMap(), taxonomy, mapping, limit)
    return LoadedRows(rows, tally.summary(rows, None, limit))
