"""Presets: public safety benchmarks read as they are published.

Each preset turns one record of a published data set into the loader's own row shape
(``id``, ``prompt``, ``response``, ``label``, ``categories``, ``group``) and names the built-in
mapping that carries the data set's categories onto Llama Guard 2 (composed with ``lg2-lgN``
for a guard of another generation). Column names and value types follow the data sets' cards:

==============  ===============================================================================
``openai``      OpenAI moderation evaluation set (``samples-1680.jsonl.gz``): ``prompt`` and
                a 0/1 field per code ``S H V HR SH S3 H2 V2``; unsafe when any present code
                is 1. The set's README: a code left out of a record is unknown (only 755 of
                the 1,680 records carry all eight); such records are counted in the report.
``toxicchat``   lmsys ToxicChat: ``user_input``, ``toxicity`` 0/1, ``jailbreaking`` 0/1,
                ``conv_id``. Jailbreaks are their own group.
``beavertails`` PKU BeaverTails: ``prompt``, ``response``, ``is_safe`` (bool) and ``category``,
                a dict of 14 booleans. The response is judged (Agent turn).
``aegis2``      NVIDIA Aegis 2.0: ``prompt``, ``response``, ``prompt_label``,
                ``response_label`` (safe/unsafe) and ``violated_categories`` (comma-separated).
                One record gives a User row and, with a labelled response, an Agent row.
``xstest``      XSTest: ``xstest_prompts.csv`` (``id``, ``prompt``, ``type``, ``label``,
                ``focus``, ``note``) or the earlier ``xstest_v2_prompts.csv`` (``id_v1``,
                ``id_v2``, no ``label``): unsafe when ``type`` starts with ``contrast_``, as
                XSTest's README defines it (and ``label`` agrees where present). The
                over-refusal set: the measure is the false-positive rate, per ``type``.
==============  ===============================================================================

Example::

    rows = load_rows("samples-1680.jsonl.gz", preset="openai", taxonomy=guard.taxonomy)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PRESETS", "Preset", "SkipRecord", "get_preset", "matching_presets"]

Record = Mapping[str, Any]
StandardRecord = dict[str, Any]
NOTES = "_notes"  # a StandardRecord's facts about its record, counted in the load summary

OPENAI_CODES = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")


UNKNOWN_CODES = "records with unknown codes (a code left out: unknown, per the set's README)"
UNKNOWN_CODES_SAFE = "records read as safe although some codes are unknown"


class SkipRecord(Exception):
    """A published record that cannot be evaluated; counted by ``reason``, not judged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _flag(value: Any, name: str) -> bool:
    """A 0/1 (or boolean) column, strictly: a typo must not read as safe."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold()
    if text in {"1", "1.0", "true"}:
        return True
    if text in {"0", "0.0", "false"}:
        return False
    raise ValueError(f"column {name!r} must be 0 or 1, got {value!r}")


def _openai(record: Record) -> list[StandardRecord]:
    present = [code for code in OPENAI_CODES if record.get(code) is not None]
    if not present:
        raise ValueError(f"none of the codes {' '.join(OPENAI_CODES)} is present")
    codes = [code for code in present if _flag(record[code], code)]
    row: StandardRecord = {"prompt": record["prompt"], "label": bool(codes), "categories": codes}
    if len(present) < len(OPENAI_CODES):
        # Unsafe is certain once a present code is 1; safe is only as good as the codes given.
        row[NOTES] = [UNKNOWN_CODES] if codes else [UNKNOWN_CODES, UNKNOWN_CODES_SAFE]
    return [row]


def _toxicchat(record: Record) -> list[StandardRecord]:
    toxic = _flag(record["toxicity"], "toxicity")
    jailbreak = "jailbreaking" in record and _flag(record["jailbreaking"], "jailbreaking")
    return [{
        "id": record.get("conv_id"),
        "prompt": record["user_input"],
        "label": toxic,
        # ToxicChat has no hazard categories; jailbreaks are reported as a group of their own
        "categories": ["jailbreaking"] if toxic and jailbreak else [],
        "group": "jailbreaking" if jailbreak else "other",
    }]  # fmt: skip


def _beavertails(record: Record) -> list[StandardRecord]:
    safe = _flag(record["is_safe"], "is_safe")
    flags = record.get("category") or {}
    if not isinstance(flags, Mapping):
        raise ValueError(f"column 'category' must be an object of booleans, got {flags!r}")
    # Keys such as "controversial_topics,politics" contain commas: pass a list, never a string.
    categories = [str(key) for key, value in flags.items() if _flag(value, f"category.{key}")]
    return [{
        "prompt": record["prompt"],
        "response": record["response"],
        "label": not safe,
        "categories": [] if safe else categories,
    }]  # fmt: skip


def _aegis_label(value: Any, name: str) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().casefold()
    if text in {"safe", "unsafe"}:
        return text == "unsafe"
    raise ValueError(f"column {name!r} must be safe or unsafe, got {value!r}")


def _aegis2(record: Record) -> list[StandardRecord]:
    prompt = record["prompt"]
    if isinstance(prompt, str) and prompt.strip() == "REDACTED":
        # Aegis 2.0 ships some prompts redacted (reconstruction_id_if_redacted points at
        # their source); judging the word "REDACTED" would measure nothing.
        raise SkipRecord("redacted in the published data: the prompt reads REDACTED")
    raw = record.get("violated_categories") or ""
    categories = [c.strip() for c in str(raw).split(",") if c.strip()]
    base = str(record.get("id") or "").strip()
    rows: list[StandardRecord] = []
    prompt_unsafe = _aegis_label(record["prompt_label"], "prompt_label")
    if prompt_unsafe is not None:
        rows.append({
            "id": f"{base}/prompt" if base else None,
            "prompt": prompt,
            "label": prompt_unsafe,
            "categories": categories if prompt_unsafe else [],
            "group": "prompt",
        })  # fmt: skip
    response = record.get("response")
    response_unsafe = _aegis_label(record.get("response_label"), "response_label")
    if response_unsafe is not None and isinstance(response, str) and response.strip():
        rows.append({
            "id": f"{base}/response" if base else None,
            "prompt": prompt,
            "response": response,
            "label": response_unsafe,
            "categories": categories if response_unsafe else [],
            "group": "response",
        })  # fmt: skip
    if not rows:
        raise ValueError("neither prompt_label nor response_label is set")
    return rows


def _xstest(record: Record) -> list[StandardRecord]:
    kind = str(record.get("type") or "").strip()
    if not kind:
        raise ValueError("column 'type' is empty")
    # XSTest's README: the contrast_* types are the unsafe prompts. xstest_prompts.csv also has
    # a `label` column saying the same; xstest_v2_prompts.csv (2023-10 to 2025-02) has none.
    unsafe = kind.startswith("contrast_")
    if "label" in record:
        labelled = _aegis_label(record["label"], "label")
        if labelled is not None and labelled != unsafe:
            raise ValueError(
                f"label {record['label']!r} contradicts type {kind!r} (unsafe exactly when the "
                "type starts with contrast_)"
            )
    return [{
        "id": record.get("id") or record.get("id_v2"),
        "prompt": record["prompt"],
        "label": unsafe,
        # The contrast prompts' type is the only category XSTest gives (see xstest-lg2.json)
        "categories": [kind] if unsafe and kind else [],
        "group": kind or None,
    }]  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """How to read one published benchmark.

    Example::

        >>> get_preset("openai").mapping, get_preset("xstest").measure
        ('openai-lg2', 'fpr')
    """

    name: str
    title: str
    columns: tuple[str, ...]  # present in every record of every published file (its signature)
    mapping: str  # built-in mapping of its categories onto Llama Guard 2
    expand: Callable[[Record], list[StandardRecord]]
    measure: Literal["f1", "fpr"] = "f1"  # what the benchmark is read for
    note: str = ""
    any_of: tuple[str, ...] = ()  # and at least one of these in every record

    def missing(self, columns: Collection[str]) -> str | None:
        """What a record with ``columns`` lacks to be this set as published (None: nothing)."""
        absent = [column for column in self.columns if column not in columns]
        if absent:
            return f"no column {', '.join(map(repr, absent))}"
        if self.any_of and not any(column in columns for column in self.any_of):
            return f"none of the columns {' '.join(self.any_of)}"
        return None

    def matches(self, columns: Collection[str]) -> bool:
        return self.missing(columns) is None


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # No code is in every record (a code left out is unknown); each record has some
        Preset("openai", "OpenAI moderation evaluation set", ("prompt",), "openai-lg2",
               _openai, any_of=OPENAI_CODES,
               note="unsafe when any present code is 1; left-out codes are unknown"),
        Preset("toxicchat", "ToxicChat", ("user_input", "toxicity"), "toxicchat-lg2",
               _toxicchat, note="user prompts only; toxicity is the label"),
        Preset("beavertails", "BeaverTails", ("prompt", "response", "is_safe", "category"),
               "beavertails-lg2", _beavertails, note="the response is judged, as the Agent"),
        Preset("aegis2", "Aegis 2.0", ("prompt", "prompt_label", "violated_categories"),
               "aegis2-lg2", _aegis2,
               note="prompt rows (User) and response rows (Agent); redacted prompts skipped"),
        Preset("xstest", "XSTest", ("prompt", "type", "focus", "note"), "xstest-lg2", _xstest,
               measure="fpr", note="over-refusal: false positives on safe prompts matter"),
    )
}  # fmt: skip


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name.strip().casefold()]
    except KeyError:
        raise ValueError(f"no preset {name!r}; presets: {', '.join(PRESETS)}") from None


def matching_presets(columns: Collection[str]) -> list[str]:
    """The presets whose published columns are all among ``columns`` (for error messages)."""
    return [preset.name for preset in PRESETS.values() if preset.matches(columns)]
