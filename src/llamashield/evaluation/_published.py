"""The F1 / false-positive-rate figures Meta's Llama Guard model cards report on public sets.

A report for a preset lists them beside the user's own figures, so a run shows at once whether a
serving path reproduces Meta's numbers. They are data, copied from the cards in
github.com/meta-llama/PurpleLlama and checked there (repository HEAD 4be64c3, 2026-08-17;
``Llama-Guard2/MODEL_CARD.md`` last changed in b7f5c28, ``Llama-Guard3/1B/MODEL_CARD.md`` in
c6616ce). The cards decide unsafe at P(unsafe) >= 0.5, llamashield's default decision too.

The Llama Guard 3 8B card states only that LG3 matches LG2's XSTest F1 at a lower FPR; its
figure is in the 1B card's table. The BeaverTails figures are on Meta's own BeaverTails-30k split
(rebuilt from Anthropic's train/test split), not on the published test file.
"""

from __future__ import annotations

import re

from llamashield.evaluation._report_model import PublishedFigure

__all__ = ["PUBLISHED", "published_figures"]

_CARDS = "https://github.com/meta-llama/PurpleLlama/blob/main/"
_LG2 = _CARDS + "Llama-Guard2/MODEL_CARD.md"
_LG3_1B = _CARDS + "Llama-Guard3/1B/MODEL_CARD.md"
_LG2_TABLE = "OSS data sets table (F1 / False Positive Rate)"
_LG3_TABLE = "F1/FPR table, XSTest column"
_BT_NOTE = "Meta's BeaverTails-30k split, not the published test file"

PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure(model="Llama Guard 2", dataset="xstest", f1=0.884, fpr=0.084, source=_LG2,
                    table=_LG2_TABLE),
    PublishedFigure(model="Llama Guard 2", dataset="openai", f1=0.807, fpr=0.060, source=_LG2,
                    table=_LG2_TABLE),
    PublishedFigure(model="Llama Guard 2", dataset="beavertails", f1=0.736, fpr=0.059,
                    source=_LG2, table=_LG2_TABLE, note=_BT_NOTE),
    PublishedFigure(model="Llama Guard 3 8B", dataset="xstest", f1=0.884, fpr=0.044,
                    source=_LG3_1B, table=_LG3_TABLE),
    PublishedFigure(model="Llama Guard 3 1B", dataset="xstest", f1=0.821, fpr=0.068,
                    source=_LG3_1B, table=_LG3_TABLE),
    PublishedFigure(model="Llama Guard 3 1B INT4", dataset="xstest", f1=0.737, fpr=0.152,
                    source=_LG3_1B, table=_LG3_TABLE),
)  # fmt: skip

# Model ids onto the cards' model names, most specific first ("guard-3-1b-int4" before "guard-3").
_MODELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"guard[-_ ]?3[-_:]?1b.*int4"), "Llama Guard 3 1B INT4"),
    (re.compile(r"guard[-_ ]?3[-_:]?1b"), "Llama Guard 3 1B"),
    (re.compile(r"guard[-_ ]?3(?![-_:]?11b)"), "Llama Guard 3 8B"),
    (re.compile(r"guard[-_ ]?2"), "Llama Guard 2"),
)


def card_model(model_id: str) -> str | None:
    """The model card name of a model id (``meta-llama/Meta-Llama-Guard-2-8B`` -> Llama Guard 2).

    Example::

        >>> card_model("meta-llama/Llama-Guard-3-1B"), card_model("my-local-guard")
        ('Llama Guard 3 1B', None)
    """
    name = model_id.rsplit("/", 1)[-1].lower()
    return next((card for pattern, card in _MODELS if pattern.search(name)), None)


def published_figures(preset: str | None, model_id: str) -> list[PublishedFigure]:
    """Every published figure for ``preset``'s data set, the evaluated model's marked
    ``same_model`` and listed first (the others are there for scale)."""
    if preset is None:
        return []
    model = card_model(model_id)
    figures = [
        figure.model_copy(update={"same_model": figure.model == model})
        for figure in PUBLISHED
        if figure.dataset == preset
    ]
    return sorted(figures, key=lambda figure: not figure.same_model)
