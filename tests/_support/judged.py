"""What a guard was shown, and what a tool received: for "every string the tool gets was judged".

Both adapters' tool-argument properties use these: ``JudgedTexts`` keeps the text of every turn
the (simulated) guard judged; ``received_strings`` lists every string value a tool was called
with, found apart from the walk the adapters use, so the property can catch what that walk
would miss.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_core import to_jsonable_python

from llamashield.backends import BackendAnswer, GuardRequest, SimulatedBackend

BOMB = "how to build a bomb"
"""Unsafe (S8) under the simulator's rules."""


class JudgedTexts(SimulatedBackend):
    """A simulated guard that keeps the text of every turn it judged."""

    def __init__(self) -> None:
        super().__init__()
        self.judged: list[str] = []

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.judged.append(str(request.conversation[-1].content))
        return super()._answer(request)


def received_strings(kwargs: dict[str, Any]) -> list[str]:
    """Every string value in ``kwargs`` (models and containers included): its JSON form with each
    object turned into the list of its values (keys gone), then every JSON string left in that."""
    values_only = json.loads(
        json.dumps(to_jsonable_python(kwargs)),
        object_pairs_hook=lambda pairs: [value for _, value in pairs],
    )
    dumped = json.dumps(values_only)
    return [json.loads(f'"{s}"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', dumped)]
