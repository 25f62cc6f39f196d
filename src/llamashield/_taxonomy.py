"""Llama Guard taxonomies as data: one per model generation, and the model-id lookup.

Codes shift between generations (S5 is Specialized Advice in Llama Guard 2 and Defamation in 3
and 4), so a verdict is always read with the taxonomy of the model that produced it.
Names and lists follow Meta's code, which the conformance suite checks against the packages:
``llama-cookbook`` 0.0.5.post1 ``inference/prompt_format_utils.py`` (Llama Guard 1 and 2, and the
descriptions) and ``llama-stack`` 0.7.3's llama guard provider (Llama Guard 3 and 4: the prompt
names ``Sex Crimes``, ``Child Exploitation``, ``Self-Harm``, not the model cards' longer ones;
13 categories for Llama Guard 3 1B, 3 11B Vision and 4 12B, 14 for Llama Guard 3 8B).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from llamashield import _publish
from llamashield._exceptions import ConfigurationError

__all__ = [
    "LLAMA_GUARD_1",
    "LLAMA_GUARD_2",
    "LLAMA_GUARD_3",
    "LLAMA_GUARD_3_1B",
    "LLAMA_GUARD_4",
    "Category",
    "Taxonomy",
    "taxonomy_for_model",
]


@dataclass(frozen=True, slots=True)
class Category:
    """One unsafe-content category: ``Category("S9", "Hate", "...")``.

    Example::

        >>> LLAMA_GUARD_2["S9"].name
        'Hate'
    """

    code: str
    name: str
    description: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not re.fullmatch(r"[A-Z]\d{1,3}", self.code):
            raise ValueError(
                f"category code must look like 'S1' or 'O3' (a capital letter and digits), "
                f"got {self.code!r}"
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"category {self.code} needs a non-empty name")

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The ordered categories of one Llama Guard generation (1 to 4), or a custom policy.

    ``excluded`` codes stay known (a verdict naming one still parses) but are left out of the
    prompt, as llama-stack's ``excluded_categories`` do; codes are not renumbered.

    Example::

        >>> LLAMA_GUARD_3.excluding(["S14"]).prompt_codes[-1]
        'S13'
    """

    generation: int
    categories: tuple[Category, ...]
    custom: bool = False
    excluded: frozenset[str] = frozenset()
    _by_code: dict[str, Category] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.generation not in (1, 2, 3, 4):
            raise ValueError(f"Llama Guard generation must be 1, 2, 3 or 4, got {self.generation}")
        if not self.categories:
            raise ValueError("a taxonomy needs at least one category")
        by_code = {c.code: c for c in self.categories}
        if len(by_code) != len(self.categories):
            raise ValueError("category codes in a taxonomy must be unique")
        if not self.excluded <= by_code.keys():
            unknown = ", ".join(sorted(self.excluded - by_code.keys()))
            raise ValueError(f"cannot exclude unknown codes from the prompt: {unknown}")
        if len(self.excluded) == len(by_code):
            raise ValueError("cannot exclude every category from the prompt")
        object.__setattr__(self, "_by_code", by_code)

    @property
    def prompt_categories(self) -> tuple[Category, ...]:
        """The categories the prompt lists: all but the excluded ones, in order."""
        return tuple(c for c in self.categories if c.code not in self.excluded)

    @property
    def prompt_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.prompt_categories)

    @property
    def needs_own_prompt(self) -> bool:
        """Whether the prompt differs from the one the model's chat template renders.

        Such a policy (custom categories, or categories excluded from the prompt) needs a
        backend that sends llamashield's own prompt, not a server-side chat template.
        """
        return self.custom or bool(self.excluded)

    def excluding(self, codes: Iterable[str]) -> Taxonomy:
        """This taxonomy with ``codes`` left out of the prompt."""
        return Taxonomy(self.generation, self.categories, self.custom, frozenset(codes))

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> Category:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(
                f"{code!r} is not a category of Llama Guard {self.generation}; "
                f"known codes: {', '.join(self._by_code)}"
            ) from None

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def resolve(self, item: str | Category) -> Category:
        """Find a category by code (``"S9"``), name (``"hate"``) or the object itself."""
        if isinstance(item, Category):
            return self[item.code]
        if not isinstance(item, str):
            raise TypeError(f"a category is a code string or a Category, got {type(item).__name__}")
        if item in self._by_code:
            return self._by_code[item]
        wanted = item.strip().rstrip(".").casefold()
        for category in self.categories:
            if category.name.casefold() == wanted:
                return category
        raise KeyError(
            f"{item!r} is not a category of Llama Guard {self.generation}; "
            f"known codes: {', '.join(self._by_code)}"
        )

    def with_categories(self, categories: Iterable[Category]) -> Taxonomy:
        """A custom policy in this generation's prompt format."""
        return Taxonomy(self.generation, tuple(categories), custom=True)


def _cats(prefix: str, rows: list[tuple[str, str]]) -> tuple[Category, ...]:
    return tuple(Category(f"{prefix}{i}", n, d) for i, (n, d) in enumerate(rows, start=1))


LLAMA_GUARD_1 = Taxonomy(
    1,
    _cats(
        "O",
        [
            (
                "Violence and Hate",
                "Should not\n"
                " - Help people plan or engage in violence.\n"
                " - Encourage people to engage in violence.\n"
                " - Express hateful, derogatory, or demeaning sentiments against people based on "
                "sensitive personal characteristics like their race, color, religion, national "
                "origin, sexual orientation, gender, gender identity, or disability.\n"
                " - Encourage discrimination against people based on those characteristics and "
                "should not use slurs or create insults based on those characteristics.\n"
                "Can\n"
                " - Provide information on violence and discrimination.\n"
                " - Discuss the topics of hate and violence, and can discuss historical events "
                "involving violence.",
            ),
            (
                "Sexual Content",
                "Should not\n"
                " - Engage in sexually explicit (i.e., erotic) conversations and should not "
                "encourage people to engage in sexual activities.\n"
                "Can\n"
                " - Discuss topics related to sexuality and sexual education.\n"
                " - Provide general information regarding sexual activities.\n"
                " - Provide guidance on topics related to sexual health.",
            ),
            (
                "Criminal Planning",
                "Should not\n"
                " - Help people plan or engage in criminal activities like theft, kidnapping, or "
                "financial crimes, especially when the person indicates that they may act on the "
                "information provided to them.\n"
                " - Encourage people to engage in criminal activities or condone criminal "
                "behavior.\n"
                "Can\n"
                " - Help people understand how crimes are committed, provided that the response "
                "is not so detailed that it could be used to provide a roadmap for future "
                "crimes.\n"
                " - Help people understand how systems work that are used to prevent crimes, "
                "provided those descriptions do not provide detailed information on how to "
                "defeat those systems.",
            ),
            (
                "Guns and Illegal Weapons",
                "Should not\n"
                " - Assist in the planning or execution of firearm or illegal weapons crimes, "
                "especially when the person indicates that they may act on the information "
                "provided to them.\n"
                " - Encourage people to engage in firearm or illegal weapons crimes or condone "
                "such behavior.\n"
                "Can\n"
                " - Discuss firearms and the arguments for and against firearm ownership.",
            ),
            (
                "Regulated or Controlled Substances",
                "Should not\n"
                " - Encourage or assist people in the trafficking, consumption, or use of "
                "regulated or controlled substances, including but not limited to illegal drugs, "
                "tobacco, alcohol, and cannabis.\n"
                " - Assist or encourage people to create such substances when it is illegal to "
                "do so.\n"
                "Can\n"
                " - Discuss the use of regulated or controlled substances, and can provide "
                "general information on those substances (ex: what their chemical composition "
                "is and what their effects are).\n"
                " - Provide information on how those substances are manufactured, provided that "
                "the information is not so detailed as to provide step-by-step instructions for "
                "their creation.",
            ),
            (
                "Self-Harm",
                "Should not\n"
                " - Encourage people to harm themselves.\n"
                " - Romanticize or condone self-harm or suicide.\n"
                " - Provide information regarding the methods of suicide or self-harm.\n"
                " - Provide any information or advice, other than information regarding "
                "appropriate health resources, to people who express or imply that they wish to "
                "harm themselves.\n"
                "Can\n"
                " - Provide general information regarding self-harm and suicide (ex: statistics, "
                "the mental health challenges faced by those who take these actions).\n"
                "Should\n"
                " - Provide information regarding appropriate health resources to people who "
                "imply or express the desire to harm themselves.",
            ),
        ],
    ),
)

_VIOLENT = (
    "Violent Crimes",
    "AI models should not create content that enables, encourages, or excuses the commission "
    "of violent crimes. Examples of violent crimes include, but are not limited to:\n"
    " - Unlawful violence toward people (ex: terrorism, genocide, murder, hate crimes, child "
    "abuse, assault, battery, kidnapping)\n"
    " - Unlawful violence toward animals (ex: animal abuse)",
)
_NON_VIOLENT = (
    "Non-Violent Crimes",
    "AI models should not create content that enables, encourages, or excuses the commission "
    "of non-violent crimes. Examples of non-violent crimes include, but are not limited to:\n"
    " - Financial crimes (ex: fraud, scams, money laundering)\n"
    " - Property crimes (ex: burglary, robbery, arson, vandalism)\n"
    " - Drug crimes (ex: creating or trafficking narcotics)\n"
    " - Weapons crimes (ex: producing unlicensed firearms)\n"
    " - Cyber crimes (ex: hacking, spyware, malware)",
)
_SEX_CRIMES_TEXT = (
    "AI models should not create content that enables, encourages, or excuses the commission "
    "of sex crimes. Examples of sex crimes include, but are not limited to:\n"
    " - Human trafficking\n"
    " - Sexual assault (ex: rape)\n"
    " - Sexual harassment (ex: groping)\n"
    " - Lewd conduct"
)
_CHILD_TEXT = (
    "AI models should not create content that depicts child nudity or that enables, "
    "encourages, excuses, or depicts the sexual abuse of children."
)
_ADVICE = (
    "Specialized Advice",
    "AI models should not create content that contains specialized financial, medical, or "
    "legal advice.",
)
_PRIVACY = (
    "Privacy",
    "AI models should not create content that contains sensitive, personal information about "
    "private individuals.",
)
_IP = (
    "Intellectual Property",
    "AI models should not create content that violates the intellectual property rights of "
    "third parties.",
)
_WEAPONS = (
    "Indiscriminate Weapons",
    "AI models should not create content that enables the creation of weapons of mass "
    "destruction. Examples of such weapons include, but are not limited to:\n"
    " - Chemical weapons (ex: nerve gas)\n"
    " - Biological weapons (ex: anthrax)\n"
    " - Radiological weapons (ex: salted bombs)\n"
    " - Nuclear weapons (ex: atomic warheads)\n"
    " - High-yield explosive weapons (ex: cluster munitions)",
)
_HATE = (
    "Hate",
    "AI models should not create content that is hateful toward people on the basis of their "
    "protected characteristics (race, color, ethnicity, national origin, disability, religious "
    "affiliation, caste, sexual orientation, sex, gender identity and serious disease). AI "
    "models should not create content that perpetuates negative stereotypes.",
)
_SELF_HARM_TEXT = (
    "AI models should not create content that enables, encourages, or excuses acts of "
    "intentional self-harm. Examples of such actions include, but are not limited to:\n"
    " - Suicide\n"
    " - Self-injury (ex: cutting)\n"
    " - Disordered eating"
)
_SEXUAL_TEXT = (
    "AI models should not create depictions of nude adults or content that contains erotic "
    "descriptions or explicit depictions of sex acts."
)

_LG3_ROWS = [
    _VIOLENT,
    _NON_VIOLENT,
    ("Sex Crimes", _SEX_CRIMES_TEXT),
    ("Child Exploitation", _CHILD_TEXT),
    (
        "Defamation",
        "AI models should not create content about a real, living person that is verifiably "
        "false and likely to injure the person's reputation.",
    ),
    _ADVICE,
    _PRIVACY,
    _IP,
    _WEAPONS,
    _HATE,
    ("Self-Harm", _SELF_HARM_TEXT),
    ("Sexual Content", _SEXUAL_TEXT),
    (
        "Elections",
        "AI models should not create content that contain factually incorrect information about "
        "electoral systems and processes, including in the time, place, or manner of voting in "
        "civic elections.",
    ),
    (
        "Code Interpreter Abuse",
        "AI models should not create content that attempts to abuse code interpreters. Examples "
        "of code interpreter abuse include, but are not limited to:\n"
        " - Denial of service attacks\n"
        " - Container escapes or privilege escalation.",
    ),
]

# Llama Guard 2's eleven categories are Llama Guard 3's, same names, order and wording, less the
# three that 3 added (S5 Defamation, S13 Elections, S14 Code Interpreter Abuse).
_LG3_ADDED = frozenset({"Defamation", "Elections", "Code Interpreter Abuse"})
LLAMA_GUARD_2 = Taxonomy(2, _cats("S", [row for row in _LG3_ROWS if row[0] not in _LG3_ADDED]))

# Llama Guard 3 8B: S1-S14. Llama Guard 3 1B and 11B Vision, and Llama Guard 4 12B: S1-S13 (no
# Code Interpreter Abuse), as llama-stack's MODEL_TO_SAFETY_CATEGORIES_MAP lists them.
LLAMA_GUARD_3 = Taxonomy(3, _cats("S", _LG3_ROWS))
LLAMA_GUARD_3_1B = Taxonomy(3, _cats("S", _LG3_ROWS[:13]))
LLAMA_GUARD_4 = Taxonomy(4, _cats("S", _LG3_ROWS[:13]))

_BY_GENERATION = {1: LLAMA_GUARD_1, 2: LLAMA_GUARD_2, 3: LLAMA_GUARD_3, 4: LLAMA_GUARD_4}

# Ordered most specific first: "llama-guard-3-1b" must not match a bare "guard".
_MODEL_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"guard[-_ ]?4|guard4"), 4),
    (re.compile(r"guard[-_ ]?3|guard3"), 3),
    (re.compile(r"guard[-_ ]?2|guard2"), 2),
    (re.compile(r"llamaguard-7b|llama-guard-7b|guard[-_ ]?1|llamaguard$|llama-guard$"), 1),
)
# Llama Guard 3 sizes that list 13 categories: "Llama-Guard-3-1B", "llama-guard3:1b",
# "Llama-Guard-3-11B-Vision" (and its INT4/INT8 and GGUF variants).
_LG3_THIRTEEN = re.compile(r"guard[-_ ]?3[-_:]?(?:1b|11b)")


def taxonomy_for_generation(generation: int) -> Taxonomy:
    try:
        return _BY_GENERATION[generation]
    except KeyError:
        raise ConfigurationError(
            f"Llama Guard generation must be 1-4, got {generation!r}"
        ) from None


def taxonomy_for_model(model: str, default: int = 2) -> Taxonomy:
    """Pick the taxonomy from a model id: ``meta-llama/LlamaGuard-2-8b`` -> Llama Guard 2.

    Llama Guard 3 1B and 11B Vision get ``LLAMA_GUARD_3_1B`` (S1-S13), 3 8B ``LLAMA_GUARD_3``
    (S1-S14), Llama Guard 4 ``LLAMA_GUARD_4`` (S1-S13).

    Ids that name no generation (a local folder, an Ollama tag such as ``llama-guard``) get
    ``default``; pass ``taxonomy=`` to ``LlamaGuard`` to choose explicitly.
    """
    named = taxonomy_named_by(model)
    return named if named is not None else _BY_GENERATION[default]


def taxonomy_named_by(model: str) -> Taxonomy | None:
    """The taxonomy a model id names (as ``taxonomy_for_model``), or None when it names no
    Llama Guard generation: a local server's file path or alias, where guessing would read
    codes with the wrong generation's names (they differ from S5 on)."""
    name = model.rsplit("/", 1)[-1].lower()
    for pattern, generation in _MODEL_PATTERNS:
        if pattern.search(name):
            if generation == 3 and _LG3_THIRTEEN.search(name):
                return LLAMA_GUARD_3_1B
            return _BY_GENERATION[generation]
    return None


# Where each Llama Guard 2 category lives in later generations (S5 onwards shift by one).
LG2_TO_LG3: dict[str, str] = {
    "S1": "S1", "S2": "S2", "S3": "S3", "S4": "S4", "S5": "S6", "S6": "S7",
    "S7": "S8", "S8": "S9", "S9": "S10", "S10": "S11", "S11": "S12",
}  # fmt: skip
LG2_TO_LG1: dict[str, str] = {
    "S1": "O1", "S2": "O3", "S3": "O3", "S4": "O2", "S8": "O4", "S9": "O1",
    "S10": "O6", "S11": "O2",
}  # fmt: skip

_publish(globals())  # the public names here report ``llamashield`` as their module
