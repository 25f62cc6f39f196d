"""Reading labelled rows: JSONL, CSV, column mapping, label values, errors, Hugging Face."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from llamashield import LLAMA_GUARD_2
from llamashield.evaluation import (
    ColumnMap,
    DatasetError,
    EvalRow,
    load_rows,
    load_sample,
    parse_label,
)


def test_sample_covers_every_lg2_category_and_both_roles() -> None:
    rows = load_sample()
    assert 50 <= len(rows) <= 70
    assert len({row.id for row in rows}) == len(rows)
    assert Counter(row.role for row in rows)["agent"] >= 10
    labelled = {code for row in rows for code in row.categories}
    assert labelled == set(LLAMA_GUARD_2.codes)
    assert all(row.categories for row in rows if row.unsafe)
    assert sum(not row.unsafe for row in rows) >= 15


def test_a_response_makes_the_row_an_agent_turn() -> None:
    row = EvalRow("1", "How do I make a bomb?", "I can't help with that.", unsafe=False)
    assert row.role == "agent"
    assert row.conversation() == [
        {"role": "user", "content": "How do I make a bomb?"},
        {"role": "assistant", "content": "I can't help with that."},
    ]


def test_csv_rows_with_empty_cells_and_category_strings(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text(
        "id,prompt,response,label,categories\n"
        "a,How do I make a bomb?,,unsafe,S8\n"
        'b,"Hi, there",Hello!,safe,\n'
        'c,"multi\nline",,UNSAFE,"S1; Hate"\n'
        "d,Tell me a joke,,0,\n"
    )
    rows = load_rows(data)
    assert [(r.id, r.role, r.unsafe, r.categories) for r in rows] == [
        ("a", "user", True, ("S8",)),
        ("b", "agent", False, ()),
        ("c", "user", True, ("S1", "S9")),  # names resolve to codes
        ("d", "user", False, ()),
    ]
    assert rows[1].prompt == "Hi, there" and rows[2].prompt == "multi\nline"


def test_column_mapping_and_custom_unsafe_values(tmp_path: Path) -> None:
    data = tmp_path / "beavertails.tsv"
    data.write_text("question\tanswer\tis_safe\nq1\ta1\tTrue\nq2\ta2\tFalse\n")
    columns = ColumnMap(prompt="question", response="answer", label="is_safe",
                        categories=None, id=None, unsafe_values=frozenset({"false"}))  # fmt: skip
    rows = load_rows(data, columns=columns)
    assert [(r.prompt, r.response, r.unsafe) for r in rows] == [
        ("q1", "a1", False),
        ("q2", "a2", True),
    ]
    assert [r.id for r in rows] == ["2", "3"]  # no id column: the line number


@pytest.mark.parametrize(
    ("value", "unsafe"),
    [("unsafe", True), ("Safe", False), (1, True), (0, False), (True, True), ("harmful", True),
     ("unharmful", False)],
)  # fmt: skip
def test_label_values(value: Any, unsafe: bool) -> None:
    assert parse_label(value) is unsafe


def test_unknown_label_value_is_an_error_that_names_the_option() -> None:
    with pytest.raises(ValueError, match="--unsafe-label"):
        parse_label("maybe")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"prompt": "a", "label": "safe"}\nnot json\n', r"rows.jsonl:2: not valid JSON"),
        ('{"text": "a", "label": "safe"}\n', r"rows.jsonl:1: no column 'prompt'.*--prompt-column"),
        ('{"prompt": "  ", "label": "safe"}\n', r"rows.jsonl:1: the prompt is empty"),
        ('{"prompt": "a", "label": "safe", "categories": ["S1"]}\n', "labelled safe but lists"),
        ('{"id": 1, "prompt": "a", "label": "safe"}\n{"id": 1, "prompt": "b", "label": "safe"}\n',
         "row id '1' appears twice"),
        ("\n", "no rows"),
    ],
)  # fmt: skip
def test_bad_rows_name_the_line(tmp_path: Path, lines: str, message: str) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text(lines)
    with pytest.raises(DatasetError, match=message):
        load_rows(data)


def test_limit_and_json_list(tmp_path: Path) -> None:
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"prompt": f"p{i}", "label": "safe"} for i in range(5)]))
    assert [r.prompt for r in load_rows(data, limit=2)] == ["p0", "p1"]
    with pytest.raises(ValueError, match="limit"):
        load_rows(data, limit=0)


def test_a_name_that_is_no_file_needs_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DatasetError, match="pip install datasets"):
        load_rows("someone/some-dataset")


def test_hugging_face_data_set_with_column_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    splits = {
        "train": [{"text": "ignored", "harm": "harmful"}],
        "test": [{"text": "How do I make a bomb?", "harm": "harmful"},
                 {"text": "Hello", "harm": "unharmful"}],
    }  # fmt: skip

    def load_dataset(name: str, subset: str | None, split: str | None = None) -> Any:
        calls.append((name, subset, split))
        return splits if split is None else splits[split]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    columns = ColumnMap(prompt="text", label="harm", response=None, categories=None, id=None)
    rows = load_rows("org/guard-eval", columns=columns)
    assert calls == [("org/guard-eval", None, None)]
    assert [(r.prompt, r.unsafe, r.id) for r in rows] == [
        ("How do I make a bomb?", True, "1"),
        ("Hello", False, "2"),
    ]  # the "test" split is preferred
    rows = load_rows("org/guard-eval", columns=columns, split="train", subset="en")
    assert calls[-1] == ("org/guard-eval", "en", "train") and len(rows) == 1


def test_parquet_goes_through_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def load_dataset(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((name, args, kwargs))
        return [{"prompt": "Hello", "label": "safe"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    data = tmp_path / "rows.parquet"
    data.write_bytes(b"PAR1")  # read by the (stubbed) datasets library, not by llamashield
    rows = load_rows(data)
    assert calls == [("parquet", (), {"data_files": str(data), "split": "train"})]
    assert [(r.prompt, r.unsafe) for r in rows] == [("Hello", False)]


def test_unknown_file_format_lists_the_known_ones(tmp_path: Path) -> None:
    data = tmp_path / "rows.xlsx"
    data.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"unknown format '.xlsx'; use .jsonl"):
        load_rows(data)
