"""The keyword rules behind ``SimulatedBackend`` and the loopback server. Not a safety tool.

Each rule maps a regex to a Llama Guard 2 code; ``simulate_answer`` translates hits into the
taxonomy of the request, so the same rules answer for every generation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from llamashield._taxonomy import LG2_TO_LG1, LG2_TO_LG3, LLAMA_GUARD_2, Taxonomy

_RULES_SOURCE: dict[str, list[str]] = {
    "S1": [r"\bkill (?:him|her|them|someone|people|my)\b", r"\bmurder", r"\bstab\b",
           r"\bkidnap", r"\btorture\b", r"\bassault (?:him|her|them|someone)\b",
           r"\bhurt (?:him|her|them|someone|people)\b", r"\bpoison (?:him|her|them|someone)\b"],
    "S2": [r"\bsteal\b", r"\bshoplift", r"\blaunder(?:ing)? money\b", r"\bhack into\b",
           r"\bphishing\b", r"\bransomware\b", r"\bcounterfeit\b", r"\bhotwire\b",
           r"\bcredit card fraud\b", r"\bcook meth\b", r"\bsell drugs\b"],
    "S3": [r"\brape\b", r"\bsexual(?:ly)? assault", r"\bhuman trafficking\b", r"\bgrope\b"],
    "S4": [r"\bchild sexual\b", r"\bsexual (?:images|content|photos) of (?:minors|children)\b"],
    "S5": [r"\bexact dose of\b", r"\bwithout (?:a|my) doctor\b", r"\bstop taking my\b"],
    "S6": [r"\bhome address of\b", r"\bsocial security number\b", r"\bdox\b"],
    "S7": [r"\bpirated?\b", r"\bcrack (?:the|a) licen[cs]e\b", r"\bfull text of\b"],
    "S8": [r"\bbomb\b", r"\bexplosives?\b", r"\bnerve gas\b", r"\bsarin\b", r"\banthrax\b",
           r"\bbioweapon", r"\bnuclear weapon", r"\bchemical weapon"],
    "S9": [r"\bsubhuman\b", r"\binferior race\b", r"\bshould be exterminated\b",
           r"\bhate all\b"],
    "S10": [r"\bsuicide\b", r"\bkill myself\b", r"\bself[- ]harm\b", r"\bcut myself\b",
            r"\bend my life\b", r"\bstarve myself\b"],
    "S11": [r"\berotic\b", r"\bexplicit sex", r"\bporn", r"\bnsfw\b"],
}  # fmt: skip

DEFAULT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), code)
    for code, patterns in _RULES_SOURCE.items()
    for pattern in patterns
)


def compile_rules(rules: Mapping[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Extra rules ``{regex: LG2 code}`` checked before the defaults."""
    compiled = []
    for pattern, code in rules.items():
        if code not in LLAMA_GUARD_2:
            raise ValueError(f"rule {pattern!r}: {code!r} is not a Llama Guard 2 code (S1-S11)")
        compiled.append((re.compile(pattern, re.IGNORECASE), code))
    return tuple(compiled) + DEFAULT_RULES


def _translate(code: str, taxonomy: Taxonomy) -> str | None:
    if taxonomy.custom:
        name = LLAMA_GUARD_2[code].name.casefold()
        for category in taxonomy:
            if category.name.casefold() == name:
                return category.code
        return None
    if taxonomy.generation == 2:
        return code
    if taxonomy.generation == 1:
        return LG2_TO_LG1.get(code)
    return LG2_TO_LG3[code]


def simulate_answer(
    text: str,
    taxonomy: Taxonomy,
    rules: tuple[tuple[re.Pattern[str], str], ...] = DEFAULT_RULES,
) -> tuple[str, float]:
    """The Llama Guard answer and P(unsafe) the rules give for one turn's text."""
    codes: list[str] = []
    if taxonomy.custom:
        lowered = text.casefold()
        codes = [c.code for c in taxonomy if c.name.casefold() in lowered]
    for pattern, lg2_code in rules:
        if pattern.search(text):
            code = _translate(lg2_code, taxonomy)
            if code is not None and code not in codes:
                codes.append(code)
    if not codes:
        return "safe", 0.02
    codes.sort(key=taxonomy.codes.index)
    return "unsafe\n" + ",".join(codes), 0.97
