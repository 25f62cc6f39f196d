"""Public benchmarks read through presets, from fixtures written in each published schema.

The fixtures (tests/eval/fixtures/) are synthetic rows with the published column names and
value types: OpenAI's one-hot 0/1 ints, ToxicChat's CSV, BeaverTails' dict of booleans,
Aegis 2.0's one-object-per-line .json, XSTest's CSV.
"""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_2, LLAMA_GUARD_3, LLAMA_GUARD_4, Category
from llamashield._taxonomy import Taxonomy
from llamashield.evaluation import (
    PRESETS,
    ColumnMap,
    DatasetError,
    EvalRow,
    load_mapping,
    load_rows,
    matching_presets,
)
from llamashield.evaluation._presets import OPENAI_CODES

FIXTURES = Path(__file__).parent / "fixtures"
FILES = {
    "openai": "openai_moderation.jsonl",
    "toxicchat": "toxicchat.csv",
    "beavertails": "beavertails.jsonl",
    "aegis2": "aegis2.json",
    "xstest": "xstest.csv",
}


def _load(name: str, taxonomy: Taxonomy = LLAMA_GUARD_2) -> list[EvalRow]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Aegis' redacted-record warning has its own test
        return load_rows(FIXTURES / FILES[name], preset=name, taxonomy=taxonomy)


def test_openai_one_hot_columns_unsafe_when_any_is_one(tmp_path: Path) -> None:
    # The published file name and compression, exactly: samples-1680.jsonl.gz
    published = tmp_path / "samples-1680.jsonl.gz"
    published.write_bytes(gzip.compress((FIXTURES / FILES["openai"]).read_bytes()))
    rows = load_rows(published, preset="openai")
    assert [(r.unsafe, r.categories) for r in rows] == [
        (False, ()),
        (True, ("S1",)),  # V -> S1, HR has no LG2 category
        (True, ("S9", "S1")),  # H -> S9, H2 (hate/threatening) -> S9, S1
        (True, ("S10",)),
        (False, ()),
        (True, ("S1",)),
    ]
    assert all(r.role == "user" for r in rows)
    assert [r.id for r in rows] == ["1", "2", "3", "4", "5", "6"]  # no id column: line numbers


def test_toxicchat_labels_and_the_jailbreak_group() -> None:
    rows = _load("toxicchat")
    assert [(r.id, r.unsafe, r.group) for r in rows] == [
        ("a1f3", False, "other"),
        ("b2e4", True, "jailbreaking"),
        ("c3d5", True, "other"),
        ("d4c6", False, "other"),
    ]
    assert all(r.categories == () and r.response is None for r in rows)  # prompts only


def test_beavertails_judges_the_response_with_mapped_categories() -> None:
    rows = _load("beavertails")
    assert all(r.role == "agent" and r.response for r in rows)
    assert [(r.unsafe, r.categories) for r in rows] == [
        (True, ("S2",)),
        (False, ()),
        (True, ("S6", "S1")),
        (False, ()),
        (True, ("S9",)),  # two BeaverTails categories, one Llama Guard 2 code
    ]


def test_aegis2_splits_prompt_and_response_rows_and_skips_redacted() -> None:
    with pytest.warns(UserWarning, match="1 record"):
        rows = load_rows(FIXTURES / FILES["aegis2"], preset="aegis2")
    got = [(r.id.split("/")[1], r.role, r.unsafe, r.categories, r.group) for r in rows]
    assert got == [
        ("prompt", "user", True, ("S2",), "prompt"),
        ("response", "agent", False, (), "response"),  # a refusal: categories stay with the prompt
        ("prompt", "user", False, (), "prompt"),  # no response, no response row
        ("prompt", "user", False, (), "prompt"),
        ("response", "agent", True, ("S1", "S2"), "response"),
        ("prompt", "user", True, (), "prompt"),  # harassment and profanity: no LG2 code
        ("response", "agent", True, (), "response"),
    ]
    assert "REDACTED" not in {r.prompt for r in rows}
    assert rows[1].conversation()[-1]["role"] == "assistant"


def test_xstest_groups_by_type_and_maps_contrast_prompts() -> None:
    rows = _load("xstest")
    assert [(r.id, r.unsafe, r.group, r.categories) for r in rows] == [
        ("1", False, "homonyms", ()),
        ("2", False, "figurative_language", ()),
        ("3", False, "privacy_public", ()),
        ("4", True, "contrast_homonyms", ()),
        ("5", True, "contrast_discr", ("S9",)),
        ("6", True, "contrast_privacy", ("S6",)),
    ]


@pytest.mark.parametrize(
    ("taxonomy", "expected"),
    [(LLAMA_GUARD_2, ("S9", "S1")), (LLAMA_GUARD_3, ("S10", "S1")), (LLAMA_GUARD_4, ("S10", "S1"))],
)
def test_preset_categories_follow_the_guards_generation(
    taxonomy: Taxonomy, expected: tuple[str, ...]
) -> None:
    rows = _load("openai", taxonomy=taxonomy)
    assert rows[2].categories == expected  # Hate is S9 in LG2, S10 in LG3/LG4


def test_a_custom_policy_needs_its_own_mapping() -> None:
    custom = LLAMA_GUARD_2.with_categories([Category("S1", "Spam", "Unsolicited ads.")])
    with pytest.raises(ValueError, match="mapping file onto your own codes"):
        _load("openai", taxonomy=custom)


def test_each_shipped_mapping_covers_its_published_categories() -> None:
    beavertails = load_mapping("beavertails-lg2")
    flags = json.loads((FIXTURES / FILES["beavertails"]).read_text().splitlines()[0])["category"]
    assert set(beavertails.table) == {key.casefold() for key in flags} and len(flags) == 14
    assert {c.casefold() for c in OPENAI_CODES} <= set(load_mapping("openai-lg2").table)
    assert len(load_mapping("aegis2-lg2").table) == 23  # 12 hazards, 9 fine-grained, 2 others
    for name in {p.mapping for p in PRESETS.values()}:
        assert load_mapping(name).target.generation == 2


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_files_columns_name_the_presets_that_read_it(name: str, tmp_path: Path) -> None:
    rows = (FIXTURES / FILES[name]).read_text()
    path = tmp_path / FILES[name]
    path.write_text(rows)
    header = _columns(path)
    assert name in matching_presets(header)
    if name == "xstest":  # prompt + label: plain rows only when the columns are named
        assert len(load_rows(path, columns=ColumnMap(response=None, categories=None))) == 6
    with pytest.raises(DatasetError) as caught:
        load_rows(path)
    message = str(caught.value)
    assert "columns found:" in message and f"match the preset(s) {name}: use --preset" in message


def _columns(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".csv":
        return text.splitlines()[0].split(",")
    return list(json.loads(text.splitlines()[0]))


def test_a_file_of_another_preset_says_which_one(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        _load_as("beavertails", FIXTURES / FILES["toxicchat"])
    message = str(caught.value)
    assert "not BeaverTails as published" in message and "user_input" in message
    assert "toxicchat" in message


def _load_as(preset: str, path: Path) -> list[EvalRow]:
    return load_rows(path, preset=preset)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "hi", **dict.fromkeys(OPENAI_CODES, 0), "V": 2}, "'V' must be 0 or 1"),
        ({"prompt": "hi", **dict.fromkeys(OPENAI_CODES, 0), "S": "yes"}, "'S' must be 0 or 1"),
        ({"prompt": "", **dict.fromkeys(OPENAI_CODES, 0)}, "the prompt is empty"),
    ],
)
def test_bad_published_values_are_errors_not_safe(
    record: dict[str, object], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_rows(path, preset="openai")


def test_preset_with_columns_or_unknown_name_is_refused() -> None:
    from llamashield.evaluation import ColumnMap

    with pytest.raises(ValueError, match="names its own columns"):
        load_rows(FIXTURES / FILES["xstest"], preset="xstest", columns=ColumnMap())
    with pytest.raises(ValueError, match="no preset 'moderation'"):
        load_rows(FIXTURES / FILES["xstest"], preset="moderation")


@given(st.lists(st.sampled_from(OPENAI_CODES), unique=True))
def test_openai_row_is_unsafe_exactly_when_a_code_is_set(codes: list[str]) -> None:
    record = {"prompt": "text", **{c: int(c in codes) for c in OPENAI_CODES}}
    [row] = PRESETS["openai"].expand(record)
    assert row["label"] is bool(codes)
    assert row["categories"] == [c for c in OPENAI_CODES if c in codes]


@given(
    st.sampled_from(["safe", "unsafe", None, ""]),
    st.sampled_from(["safe", "unsafe", None, ""]),
    st.sampled_from(["", "Violence", "Violence, Threat"]),
    st.sampled_from(["a reply", "", None]),
)
def test_aegis_rows_carry_categories_only_when_labelled_unsafe(
    prompt_label: str | None, response_label: str | None, categories: str, response: str | None
) -> None:
    record = {"id": "x", "prompt": "p", "response": response, "prompt_label": prompt_label,
              "response_label": response_label, "violated_categories": categories}  # fmt: skip
    try:
        rows = PRESETS["aegis2"].expand(record)
    except ValueError:
        assert not prompt_label and not (response_label and response)
        return
    for row in rows:
        assert bool(row["categories"]) == (row["label"] and bool(categories))
    assert any(r["group"] == "prompt" for r in rows) == bool(prompt_label)
    assert any(r["group"] == "response" for r in rows) == bool(response_label and response)
