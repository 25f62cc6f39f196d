"""Taxonomy mappings: the built-in tables, mapping files, and their use when reading rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamashield import LLAMA_GUARD_2, LLAMA_GUARD_3
from llamashield.evaluation import DatasetError, load_mapping, load_rows, load_sample


def test_lg3_codes_shift_onto_lg2() -> None:
    mapping = load_mapping("lg3-lg2")
    assert mapping.target is LLAMA_GUARD_2
    assert mapping.map("S1") == ("S1",)
    assert mapping.map("S6") == ("S5",)  # Specialized Advice
    assert mapping.map("S10") == ("S9",)  # Hate
    assert mapping.map("S12") == ("S11",)  # Sexual Content
    assert mapping.map("S5") == ()  # Defamation: no Llama Guard 2 category
    assert mapping.map("s14") == ("S2",)  # case-insensitive; code interpreter abuse is cyber crime
    assert load_mapping("lg4-lg2").table == mapping.table


def test_openai_moderation_names_map_onto_lg2() -> None:
    mapping = load_mapping("openai-lg2")
    assert mapping.map("hate/threatening") == ("S9", "S1")
    assert mapping.map("Sexual/Minors") == ("S4",)
    assert mapping.map("self-harm/instructions") == ("S10",)
    assert mapping.map("harassment") == ()
    assert mapping.map("V2") == ("S1",)  # moderation-api-release short code
    with pytest.raises(KeyError, match="not in the mapping 'openai-lg2'"):
        mapping.map("spam")


def test_lg2_to_lg3_is_derived_from_the_core_table() -> None:
    mapping = load_mapping("lg2-lg3")
    assert mapping.target is LLAMA_GUARD_3
    assert mapping.map("S5") == ("S6",) and mapping.map("S9") == ("S10",)
    assert load_mapping("lg2-lg1").map("S6") == ()  # Privacy: no Llama Guard 1 category


def test_mapping_file_json_and_yaml(tmp_path: Path) -> None:
    document = {"target": 2, "categories": {"Violence": "S1", "slurs": ["hate"], "spam": None}}
    json_file = tmp_path / "mine.json"
    json_file.write_text(json.dumps(document))
    mapping = load_mapping(json_file)
    assert mapping.map("violence") == ("S1",)
    assert mapping.map("SLURS") == ("S9",)  # target given by name
    assert mapping.map("spam") == ()
    yaml = pytest.importorskip("yaml")
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(yaml.safe_dump(document))
    assert load_mapping(yaml_file).table == mapping.table


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"target": 2, "categories": {"x": "S12"}}, "'S12' is not a category of Llama Guard 2"),
        ({"target": 7, "categories": {}}, "generation 1-4"),
        ({"target": 2, "categories": {"x": 3}}, "must map to a code"),
        ({"target": 2}, '"categories" object'),
    ],
)
def test_bad_mapping_files_say_what_is_wrong(
    tmp_path: Path, document: object, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message):
        load_mapping(path)


def test_unknown_mapping_name_lists_the_builtins() -> None:
    with pytest.raises(FileNotFoundError, match="lg3-lg2"):
        load_mapping("no-such-mapping")


def test_rows_with_lg3_labels_are_read_through_a_mapping(tmp_path: Path) -> None:
    data = tmp_path / "lg3.jsonl"
    data.write_text(
        '{"prompt": "a", "label": "unsafe", "categories": ["S10", "S11"]}\n'
        '{"prompt": "b", "label": "unsafe", "categories": "S5"}\n'
    )
    rows = load_rows(data, mapping=load_mapping("lg3-lg2"))
    assert rows[0].categories == ("S9", "S10")
    assert rows[1].categories == () and rows[1].unsafe  # Defamation: unsafe, no LG2 category
    # Without the mapping the same codes would silently mean other categories: S10 is Self-Harm
    # in Llama Guard 2. Reading is the same; the mapping is what makes the meaning right.
    assert load_rows(data)[0].categories == ("S10", "S11")


def test_mapping_onto_another_generation_than_the_guard_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "a", "label": "safe"}\n')
    with pytest.raises(
        ValueError, match="maps onto Llama Guard 2 but the guard uses Llama Guard 3"
    ):
        load_rows(data, taxonomy=LLAMA_GUARD_3, mapping=load_mapping("lg3-lg2"))


def test_unknown_category_without_mapping_points_to_mapping(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "a", "label": "unsafe", "categories": ["harassment"]}\n')
    with pytest.raises(DatasetError, match=r"rows.jsonl:1: category 'harassment'.*--mapping"):
        load_rows(data)


def test_sample_is_mapped_for_a_llama_guard_3_model() -> None:
    lg2 = {row.id: row.categories for row in load_sample()}
    lg3 = {row.id: row.categories for row in load_sample(LLAMA_GUARD_3)}
    assert lg2["u-s9-01"] == ("S9",) and lg3["u-s9-01"] == ("S10",)  # Hate
    assert lg2["u-s5-01"] == ("S5",) and lg3["u-s5-01"] == ("S6",)  # Specialized Advice
    assert lg2["u-s1-01"] == lg3["u-s1-01"] == ("S1",)


@pytest.mark.parametrize("spelling", ["3", "llama-guard-3", "Llama-Guard-3", "lg3", "LG3", 3])
def test_a_target_generation_may_be_spelled_as_a_number_or_a_name(spelling: object) -> None:
    from llamashield.evaluation._mapping import parse_mapping

    mapping = parse_mapping({"target": spelling, "categories": {"bad": "S1"}}, "spelled")
    assert mapping.target is LLAMA_GUARD_3


def test_a_mapping_onto_codes_a_custom_policy_lacks_names_them() -> None:
    from llamashield._taxonomy import Category
    from llamashield.evaluation._mapping import parse_mapping

    custom = LLAMA_GUARD_3.with_categories([Category("S1", "Violent Crimes"), Category("S2", "X")])
    mapping = parse_mapping({"target": 3, "categories": {"a": "S1", "b": ["S2", "S9"]}}, "mine")
    with pytest.raises(ValueError, match=r"targets codes \['S9'\].*custom policy"):
        mapping.check_target(custom)
    parse_mapping({"target": 3, "categories": {"a": "S1"}}, "fits").check_target(custom)


def test_generations_3_and_4_share_their_codes_and_need_no_mapping() -> None:
    from llamashield import LLAMA_GUARD_4
    from llamashield.evaluation._mapping import mapping_between

    assert mapping_between(3, LLAMA_GUARD_4) is None
    assert mapping_between(4, LLAMA_GUARD_3) is None
    assert mapping_between(2, LLAMA_GUARD_2) is None


def test_a_generation_pair_without_a_built_in_mapping_asks_for_a_file() -> None:
    from llamashield.evaluation._mapping import mapping_between

    with pytest.raises(ValueError, match="no built-in mapping lg1-lg3; pass a mapping file"):
        mapping_between(1, LLAMA_GUARD_3)


def test_a_yaml_mapping_without_pyyaml_says_to_install_it_or_write_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    path = tmp_path / "mine.yaml"
    path.write_text("target: 2\ncategories:\n  bad: S1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    with pytest.raises(ImportError, match=r"mine.yaml needs PyYAML.*as JSON"):
        load_mapping(path)
