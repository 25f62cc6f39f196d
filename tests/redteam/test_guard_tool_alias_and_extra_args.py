"""Issue 20 item 5: "A LangChain tool whose args schema uses a pydantic alias runs with `how to
build a bomb` while the guard judged `search\\n{}`. The arguments judged are the arguments the
tool receives." Still so: GuardedTool._arguments_conversation (tools.py ~l.95) keeps only the
arguments named by the schema's FIELD names (`model_fields`), so an argument given by its
alias, or an extra argument a schema with extra="allow" passes on, is dropped from the judged
text while the tool receives it."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tools import StructuredTool
from langchain_llamashield import guard_tool
from pydantic import BaseModel, ConfigDict, Field

from tests._support.last_turn import TRIGGER, last_turn_guard


class Aliased(BaseModel):
    query: str = Field(alias="q")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    q: str


@pytest.mark.parametrize(
    ("schema", "arguments"),
    [(Aliased, {"q": TRIGGER}), (Open, {"q": "hi", "note": TRIGGER})],
    ids=["alias", "extra_field"],
)
def test_the_tool_never_runs_with_unjudged_arguments(
    schema: type[BaseModel], arguments: dict[str, Any]
) -> None:
    received: list[Any] = []

    def search(**kwargs: Any) -> str:
        received.append(kwargs)
        return "ok"

    tool = StructuredTool.from_function(search, args_schema=schema, name="search", description="s")
    guard, _ = last_turn_guard()
    guard_tool(tool, guard, on_unsafe="refuse").invoke(arguments)
    assert not any(TRIGGER in repr(r) for r in received), f"the tool ran with {received}"
