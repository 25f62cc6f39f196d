"""Pieces every LlamaIndex component shares: refusal text, verdict metadata, node text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore
from llama_index.llamashield._inputs import messages_conversation, plain

from llamashield import LlamaGuard, Verdict
from llamashield.integration import DEFAULT_REFUSAL as _DEFAULT_REFUSAL
from llamashield.integration import METADATA_KEY as _METADATA_KEY
from llamashield.integration import verdict_metadata

__all__ = [
    "DEFAULT_REFUSAL",
    "METADATA_KEY",
    "NodeMode",
    "agent_turn",
    "apply_node_verdicts",
    "check_guard",
    "check_node_mode",
    "flag_metadata",
    "flag_node",
    "history_turns",
    "node_conversation",
    "node_text",
    "split_by_verdict",
]

# One refusal text and one metadata key in both adapters (the core's); kept here for imports.
DEFAULT_REFUSAL = _DEFAULT_REFUSAL
METADATA_KEY = _METADATA_KEY

NodeMode = Literal["drop", "flag"]

logger = logging.getLogger("llamashield")


def check_guard(guard: Any, shadow: bool | None = None) -> LlamaGuard:
    """Fail at construction, not at the first query, when ``guard`` is not a ``LlamaGuard``;
    with ``shadow`` set, the guard in that mode (a component's ``shadow=`` beats the guard's)."""
    if not isinstance(guard, LlamaGuard):
        raise TypeError(
            f"guard must be a llamashield.LlamaGuard, got {type(guard).__name__}: "
            "build one with LlamaGuard() or LlamaGuard(SimulatedBackend()) for tests"
        )
    return guard.with_shadow(shadow)


def check_node_mode(mode: str) -> NodeMode:
    if mode not in ("drop", "flag"):
        raise ValueError(f"mode must be 'drop' or 'flag', got {mode!r}")
    return mode  # type: ignore[return-value]


def history_turns(messages: Sequence[Any]) -> list[dict[str, Any]]:
    """LlamaIndex chat messages as the core reads them: every block of every message (tool
    results as the User's turn; system prompts are not judged)."""
    return messages_conversation(messages)


def agent_turn(question: Any, answer: Any) -> list[dict[str, Any]]:
    """The conversation in which Llama Guard judges ``answer`` as the Agent's reply
    (``question`` and ``answer`` as text or LlamaIndex objects: messages, blocks, nodes)."""
    return [
        {"role": "user", "content": plain(question)},
        {"role": "assistant", "content": plain(answer)},
    ]


def node_text(node: BaseNode | NodeWithScore) -> str:
    """The text a node would put into a prompt (metadata included, as the LLM sees it)."""
    base = node.node if isinstance(node, NodeWithScore) else node
    return base.get_content(metadata_mode=MetadataMode.LLM)


def node_conversation(node: BaseNode | NodeWithScore) -> list[dict[str, Any]]:
    """A node as the User turn the guard judges: its prompt text (metadata included) and, for
    an image node, its image (the guard's media policy decides)."""
    return [{"role": "user", "content": plain(node)}]


def flag_metadata(verdict: Verdict) -> dict[str, Any]:
    """What ``mode="flag"`` writes into a node's metadata: the core's JSON-ready record."""
    return verdict_metadata(verdict, stage="document")


def flag_node(node: BaseNode, verdict: Verdict) -> None:
    """Write the verdict into ``node.metadata``, kept out of the embedding and the LLM's text."""
    node.metadata[METADATA_KEY] = flag_metadata(verdict)
    for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        if METADATA_KEY not in excluded:
            excluded.append(METADATA_KEY)


def apply_node_verdicts(
    items: Sequence[Any], verdicts: Sequence[Verdict], mode: NodeMode, where: str
) -> list[Any]:
    """Drop the unsafe nodes (``"drop"``) or flag every node (``"flag"``); ``items`` are nodes
    or ``NodeWithScore``s. Unsafe ones are logged with ``where`` they were found."""
    kept, blocked = split_by_verdict(items, verdicts)
    for item, verdict in blocked:
        node = item.node if isinstance(item, NodeWithScore) else item
        logger.info("llamashield: %s node %s unsafe (%s)", where, node.node_id, verdict)
    if mode == "drop":
        return kept
    for item, verdict in zip(items, verdicts, strict=True):
        flag_node(item.node if isinstance(item, NodeWithScore) else item, verdict)
    return list(items)


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
