"""Pieces every LlamaIndex component shares: the guard check, the Agent turn, node verdicts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from llama_index.core.schema import BaseNode, NodeWithScore
from llama_index.llamashield._inputs import plain

from llamashield import LlamaGuard, Verdict
from llamashield.integration import METADATA_KEY, Judge, Plan, verdict_metadata

__all__ = [
    "JudgesNodes",
    "NodeMode",
    "agent_turn",
    "apply_node_verdicts",
    "check_guard",
    "check_node_mode",
    "flag_node",
    "judged_nodes",
    "node_conversation",
    "split_by_verdict",
]

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


class JudgesNodes:
    """What the node postprocessor and the ingestion transform share: the public ``guard``,
    and the plan their sync and async calls drive."""

    where: ClassVar[str] = "judged"  # where the nodes come from, for the log

    if TYPE_CHECKING:
        _guard: LlamaGuard
        mode: NodeMode

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    def _plan(self, nodes: Sequence[Any], batch_size: int | None = None) -> Plan[list[Any]]:
        return (yield from judged_nodes(nodes, self.mode, self.where, batch_size))


def check_node_mode(mode: str) -> NodeMode:
    if mode not in ("drop", "flag"):
        raise ValueError(f"mode must be 'drop' or 'flag', got {mode!r}")
    return mode  # type: ignore[return-value]


def agent_turn(question: Any, answer: Any) -> list[dict[str, Any]]:
    """The conversation in which Llama Guard judges ``answer`` as the Agent's reply
    (``question`` and ``answer`` as text or LlamaIndex objects: messages, blocks, nodes)."""
    return [
        {"role": "user", "content": plain(question)},
        {"role": "assistant", "content": plain(answer)},
    ]


def node_conversation(node: BaseNode | NodeWithScore) -> list[dict[str, Any]]:
    """A node as the User turn the guard judges: its prompt text (metadata included) and, for
    an image node, its image (the guard's media policy decides)."""
    return [{"role": "user", "content": plain(node)}]


def flag_node(node: BaseNode, verdict: Verdict) -> None:
    """Write the verdict into ``node.metadata``, kept out of the embedding and the LLM's text."""
    node.metadata[METADATA_KEY] = verdict_metadata(verdict, stage="document")
    for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        if METADATA_KEY not in excluded:
            excluded.append(METADATA_KEY)


def judged_nodes(
    nodes: Sequence[Any], mode: NodeMode, where: str, batch_size: int | None = None
) -> Plan[list[Any]]:
    """Judge ``nodes`` as User turns (stage ``document``), in concurrent batches of
    ``batch_size`` (all at once when None), and drop or flag the unsafe ones."""
    size = batch_size or max(len(nodes), 1)
    verdicts: list[Verdict] = []
    for start in range(0, len(nodes), size):
        batch = [node_conversation(node) for node in nodes[start : start + size]]
        verdicts.extend((yield Judge(batch, "document")))
    return apply_node_verdicts(nodes, verdicts, mode, where)


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
