"""The arguments a LangChain tool will run with: what a guard must judge before it runs.

A tool does not run with the arguments it is given: it runs with what its own input parsing
(``BaseTool._parse_input``, its ``args_schema``'s validation) makes of them. Judging the input
as given misses what that changes: under a schema alias (``Field(alias="q")``) the model writes
``{"q": ...}`` and the tool receives ``query=...``, so a filter on field names judged nothing;
validators can rewrite values (decode, join, default). So the tool's own parsing runs first and
its result is judged: exactly the arguments the tool function receives. Arguments the model did
not write (injected state, store, runtime, call id) are left out: they are not its words and
may not serialise.

Example::

    judged = received_arguments(tool, {"q": "how to build a bomb"}, call_id)
    # {"query": "how to build a bomb"}: what search(query=...) will get
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel

__all__ = ["adds_text", "received_arguments"]


def _injected_keys(tool: BaseTool) -> frozenset[str]:
    # langchain-core keeps them in a private property; without it, the fields the model never
    # sees (the input schema's that its tool-call schema lacks) are the injected ones.
    keys = getattr(tool, "_injected_args_keys", None)
    if isinstance(keys, frozenset | set):
        return frozenset(keys)
    try:
        full = set(getattr(tool.get_input_schema(), "model_fields", {}))
        shown = set(getattr(tool.tool_call_schema, "model_fields", {}))
    except Exception:  # a schema LangChain cannot build: nothing known to leave out
        return frozenset()
    return frozenset(full - shown) if shown else frozenset()


def received_arguments(tool: BaseTool, tool_input: Any, call_id: str | None = None) -> Any:
    """``tool_input`` as ``tool`` will receive it (its own parsing applied), injected arguments
    left out. Input the tool will refuse (its parsing fails) is returned as given, less the
    injected arguments: the tool never runs with it, and judging it costs nothing it needs."""
    if not isinstance(tool_input, dict):
        return tool_input  # a string reaches the tool as it is (its schema only validates it)
    injected = _injected_keys(tool)
    try:
        # A copy: parsing writes an injected call id into the dict it is given.
        parsed: Any = tool._parse_input(dict(tool_input), call_id)
    except Exception:
        parsed = tool_input
    if not isinstance(parsed, dict):
        return parsed
    return {key: value for key, value in parsed.items() if key not in injected}


def _strings(value: Any) -> list[str]:
    """Every string value inside ``value`` (dicts, lists, pydantic models)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, BaseModel):
        return _strings(value.model_dump())
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for item in value for s in _strings(item)]
    return []


def adds_text(received: Any, given: Any) -> bool:
    """Whether the tool receives text found nowhere in the arguments as given (a validator
    wrote it): what was judged of the arguments as given does not cover what the tool gets."""
    written = _strings(given)
    return any(not any(leaf in text for text in written) for leaf in _strings(received))
