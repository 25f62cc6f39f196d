"""``LlamaGuardNodePostprocessor``: unsafe retrieved nodes never reach the prompt."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llamashield._judging import (
    NodeMode,
    apply_node_verdicts,
    check_guard,
    check_node_mode,
    node_conversation,
)

from llamashield import LlamaGuard, Verdict
from llamashield.integration import stage_scope

__all__ = ["LlamaGuardNodePostprocessor"]


class LlamaGuardNodePostprocessor(BaseNodePostprocessor):
    """Judge retrieved nodes with Llama Guard, all at once, and drop or flag unsafe ones.

    Every node is judged as a User message (retrieved text is input to the model), in one
    concurrent batch: ten nodes cost about one guard call, not ten. With ``mode="drop"``
    unsafe nodes are removed; with ``mode="flag"`` they stay, with
    ``node.metadata["llamashield"] = {"safe": False, "categories": [...], ...}``.
    A node the guard could not judge counts as unsafe (the guard fails closed).

    Example::

        from llama_index.llamashield import LlamaGuardNodePostprocessor

        engine = index.as_query_engine(
            node_postprocessors=[LlamaGuardNodePostprocessor(guard=guard)]
        )
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    mode: NodeMode = Field(default="drop", description="'drop' or 'flag' unsafe nodes")
    _guard: LlamaGuard = PrivateAttr()

    def __init__(
        self,
        guard: LlamaGuard,
        mode: NodeMode = "drop",
        *,
        shadow: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=check_node_mode(mode), **kwargs)
        self._guard = check_guard(guard, shadow)  # shadow: every node kept, verdicts recorded

    @classmethod
    def class_name(cls) -> str:
        return "LlamaGuardNodePostprocessor"

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        with stage_scope("document"):
            verdicts = self._guard.check_many([node_conversation(n) for n in nodes])
        return self._apply(nodes, verdicts)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        with stage_scope("document"):
            verdicts = await self._guard.acheck_many([node_conversation(n) for n in nodes])
        return self._apply(nodes, verdicts)

    def _apply(self, nodes: Any, verdicts: list[Verdict]) -> list[Any]:
        return apply_node_verdicts(nodes, verdicts, self.mode, "retrieved")
