"""Pieces every LlamaIndex component shares: refusal text, verdict metadata, node text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore

from llamashield import LlamaGuard, Verdict

__all__ = [
    "DEFAULT_REFUSAL",
    "METADATA_KEY",
    "NodeMode",
    "agent_turn",
    "check_guard",
    "check_node_mode",
    "flag_metadata",
    "flag_node",
    "history_turns",
    "node_text",
    "split_by_verdict",
]

DEFAULT_REFUSAL = "I can't help with that request."
# Where verdicts go in ``Response.metadata``, ``AgentChatResponse.metadata`` and node metadata.
METADATA_KEY = "llamashield"

NodeMode = Literal["drop", "flag"]

_ASSISTANT_ALIASES = {"chatbot": "assistant", "model": "assistant"}


def check_guard(guard: Any) -> LlamaGuard:
    """Fail at construction, not at the first query, when ``guard`` is not a ``LlamaGuard``."""
    if not isinstance(guard, LlamaGuard):
        raise TypeError(
            f"guard must be a llamashield.LlamaGuard, got {type(guard).__name__}: "
            "build one with LlamaGuard() or LlamaGuard(SimulatedBackend()) for tests"
        )
    return guard


def check_node_mode(mode: str) -> NodeMode:
    if mode not in ("drop", "flag"):
        raise ValueError(f"mode must be 'drop' or 'flag', got {mode!r}")
    return mode  # type: ignore[return-value]


def history_turns(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """LlamaIndex chat messages as the core reads them: user and assistant turns only.

    ``MessageRole`` is a str enum whose ``str()`` is ``"MessageRole.USER"``, so roles are read by
    value; "chatbot" and "model" are LlamaIndex's other names for the assistant.
    """
    turns = []
    for message in messages:
        raw = getattr(message, "role", None)
        role = str(getattr(raw, "value", raw))
        role = _ASSISTANT_ALIASES.get(role, role)
        if role in ("user", "assistant"):
            # Every block, not ``content`` (the text blocks only): the core reads ImageBlocks.
            content = getattr(message, "blocks", None) or getattr(message, "content", None)
            turns.append({"role": role, "content": content or ""})
    return turns


def agent_turn(question: str, answer: str) -> list[dict[str, str]]:
    """The conversation in which Llama Guard judges ``answer`` as the Agent's reply."""
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def node_text(node: BaseNode | NodeWithScore) -> str:
    """The text a node would put into a prompt (metadata included, as the LLM sees it)."""
    base = node.node if isinstance(node, NodeWithScore) else node
    return base.get_content(metadata_mode=MetadataMode.LLM)


def flag_metadata(verdict: Verdict) -> dict[str, Any]:
    """What ``mode="flag"`` writes into a node's metadata: plain data, so it serialises."""
    return {
        "safe": verdict.safe,
        "categories": list(verdict.codes),
        "score": verdict.score,
        "error": verdict.error,
    }


def flag_node(node: BaseNode, verdict: Verdict) -> None:
    """Write the verdict into ``node.metadata``, kept out of the embedding and the LLM's text."""
    node.metadata[METADATA_KEY] = flag_metadata(verdict)
    for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        if METADATA_KEY not in excluded:
            excluded.append(METADATA_KEY)


def split_by_verdict(
    items: Sequence[Any], verdicts: Sequence[Verdict]
) -> tuple[list[Any], list[tuple[Any, Verdict]]]:
    """Safe items in order, and the unsafe ones with their verdicts."""
    kept: list[Any] = []
    blocked: list[tuple[Any, Verdict]] = []
    for item, verdict in zip(items, verdicts, strict=True):
        if verdict.safe:
            kept.append(item)
        else:
            blocked.append((item, verdict))
    return kept, blocked
