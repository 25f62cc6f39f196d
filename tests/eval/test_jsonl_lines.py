"""Datasets (``jsonl_records``) and batch output files (``parse_jsonl``) read JSONL the same
way: blank lines skipped, lines numbered from 1, each line one JSON object; only the error's
wording differs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield._exceptions import SourceError
from llamashield.evaluation._batch_requests import parse_jsonl
from llamashield.evaluation._sources import jsonl_records

_objects = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
_line = st.one_of(
    _objects.map(json.dumps),
    st.sampled_from(["", "   ", "[1, 2]", '"text"', "7", "not json", "{broken"]),
)


def _outcome(read: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", read()
    except ValueError as exc:
        return "error", int(re.findall(r"\d+", str(exc))[0])


@given(st.lists(_line, max_size=8))
def test_both_readers_agree_on_records_and_the_failing_line(lines: list[str]) -> None:
    text = "\n".join(lines)
    batch = _outcome(lambda: parse_jsonl(text))
    dataset = _outcome(lambda: [record for _, record in jsonl_records(text, "rows.jsonl")])
    assert batch == dataset


@pytest.mark.parametrize(
    ("text", "batch_message", "dataset_message"),
    [
        ("{}\n\nnot json", "batch file line 3 is not JSON: ", "rows.jsonl:3: not valid JSON ("),
        ("{}\n[1]", "batch file line 2 is not a JSON object", "rows.jsonl:2: each line must be"),
    ],
)
def test_each_reader_words_its_own_error(
    text: str, batch_message: str, dataset_message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(batch_message)) as batch:
        parse_jsonl(text)
    assert type(batch.value) is ValueError
    with pytest.raises(SourceError, match=re.escape(dataset_message)):
        list(jsonl_records(text, "rows.jsonl"))
