"""Llama Guard categories onto OpenAI's moderation category names: data, one table.

OpenAI's moderation API answers with thirteen fixed category names; Llama Guard names its own
(S1-S11 in Llama Guard 2, S1-S14 in 3, S1-S13 in 4, O1-O6 in 1). The table is keyed by the
category's *name*, not its code, because codes shift between generations (S5 is Specialized
Advice in Llama Guard 2 and Defamation in 3) while names do not: one table serves every
generation, and a custom policy whose category reuses a name maps the same way.

A Llama Guard category with no OpenAI equivalent is listed in ``UNMAPPED`` with the reason. Its
verdict still sets ``flagged`` (the guard blocks it); no OpenAI category is set for it, and the
Llama Guard codes travel alongside in every result. docs/production.md prints this table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["OPENAI_CATEGORIES", "TO_OPENAI", "UNMAPPED", "openai_names"]

# OpenAI's names, in the order its API lists them (openai-python's ``types.Moderation``).
OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# Llama Guard category name -> OpenAI names. The inverse of the eval harness's ``openai-lg2``
# mapping where that one is defined, so a round trip agrees.
TO_OPENAI: Mapping[str, tuple[str, ...]] = {
    # Llama Guard 2, 3 and 4 (the names Meta's prompts use)
    "Violent Crimes": ("violence", "illicit/violent"),
    "Non-Violent Crimes": ("illicit",),
    "Sex Crimes": ("sexual", "illicit"),
    "Child Exploitation": ("sexual/minors",),
    "Indiscriminate Weapons": ("illicit/violent",),
    "Hate": ("hate",),
    "Self-Harm": ("self-harm",),
    "Sexual Content": ("sexual",),
    # Llama Guard 1
    "Violence and Hate": ("violence", "hate"),
    "Criminal Planning": ("illicit",),
    "Guns and Illegal Weapons": ("illicit/violent",),
    "Regulated or Controlled Substances": ("illicit",),
}

# Categories OpenAI's scheme has no name for: flagged, with no OpenAI category set.
UNMAPPED: Mapping[str, str] = {
    "Specialized Advice": "financial, medical or legal advice is not an OpenAI category",
    "Privacy": "personal data disclosure is not an OpenAI category",
    "Intellectual Property": "copyright and trademarks are not an OpenAI category",
    "Defamation": "false statements about real people are not an OpenAI category",
    "Elections": "electoral misinformation is not an OpenAI category",
    "Code Interpreter Abuse": "abuse of code-execution tools is not an OpenAI category",
}


def openai_names(category_names: Iterable[str]) -> tuple[set[str], list[str]]:
    """The OpenAI names the given Llama Guard category names map to, and the names that have
    none (unmapped or unknown, as a custom policy's own categories are)."""
    flagged: set[str] = set()
    missing: list[str] = []
    for name in category_names:
        targets = TO_OPENAI.get(name)
        if targets:
            flagged.update(targets)
        else:
            missing.append(name)
    return flagged, missing
