"""Presets: public safety benchmarks read as they are published.

Each preset turns one record of a published data set into the loader's own row shape
(``id``, ``prompt``, ``response``, ``label``, ``categories``, ``group``) and names the built-in
mapping that carries the data set's categories onto Llama Guard 2 (composed with ``lg2-lgN``
for a guard of another generation). Column names and value types follow the data sets' cards:

==============  ===============================================================================
``openai``      OpenAI moderation evaluation set (``samples-1680.jsonl.gz``): ``prompt`` and
                one 0/1 column per code ``S H V HR SH S3 H2 V2``; unsafe when any is 1.
``toxicchat``   lmsys ToxicChat: ``user_input``, ``toxicity`` 0/1, ``jailbreaking`` 0/1,
                ``conv_id``. Jailbreaks are their own group.
``beavertails`` PKU BeaverTails: ``prompt``, ``response``, ``is_safe`` (bool) and ``category``,
                a dict of 14 booleans. The response is judged (Agent turn).
``aegis2``      NVIDIA Aegis 2.0: ``prompt``, ``response``, ``prompt_label``,
                ``response_label`` (safe/unsafe) and ``violated_categories`` (comma-separated).
                One record gives a User row and, with a labelled response, an Agent row.
``xstest``      XSTest (v2): ``prompt``, ``label`` safe/unsafe, ``type``. The over-refusal set:
                the measure is the false-positive rate on its safe prompts, per ``type``.
==============  ===============================================================================

Example::

    rows = load_rows("samples-1680.jsonl.gz", preset="openai", taxonomy=guard.taxonomy)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PRESETS", "Preset", "get_preset", "matching_presets"]

Record = Mapping[str, Any]
StandardRecord = dict[str, Any]

OPENAI_CODES = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")


class SkipRecord(Exception):
    """A published record that cannot be evaluated (a redacted prompt); counted, not judged."""


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
    codes = [code for code in OPENAI_CODES if _flag(record[code], code)]
    return [{"prompt": record["prompt"], "label": bool(codes), "categories": codes}]


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
        raise SkipRecord
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
    unsafe = _aegis_label(record["label"], "label")
    if unsafe is None:
        raise ValueError("column 'label' is empty")
    kind = str(record.get("type") or "").strip()
    return [{
        "id": record.get("id"),
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
    columns: tuple[str, ...]  # all present in every record of the published files
    mapping: str  # built-in mapping of its categories onto Llama Guard 2
    expand: Callable[[Record], list[StandardRecord]]
    measure: Literal["f1", "fpr"] = "f1"  # what the benchmark is read for
    note: str = ""

    def matches(self, columns: Collection[str]) -> bool:
        return all(column in columns for column in self.columns)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("openai", "OpenAI moderation evaluation set", ("prompt", *OPENAI_CODES),
               "openai-lg2", _openai),
        Preset("toxicchat", "ToxicChat", ("user_input", "toxicity"), "toxicchat-lg2",
               _toxicchat, note="user prompts only; toxicity is the label"),
        Preset("beavertails", "BeaverTails", ("prompt", "response", "is_safe", "category"),
               "beavertails-lg2", _beavertails, note="the response is judged, as the Agent"),
        Preset("aegis2", "Aegis 2.0", ("prompt", "prompt_label", "violated_categories"),
               "aegis2-lg2", _aegis2,
               note="prompt rows (User) and response rows (Agent); redacted prompts skipped"),
        Preset("xstest", "XSTest", ("prompt", "label", "type"), "xstest-lg2", _xstest,
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
