"""``LlamaGuardNodePostprocessor``: unsafe retrieved nodes never reach the prompt."""

from __future__ import annotations

from typing import Any, ClassVar

from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llamashield._judging import (
    JudgesNodes,
    NodeMode,
    check_guard,
    check_node_mode,
)

from llamashield import LlamaGuard
from llamashield.integration import arun_plan, run_plan

__all__ = ["LlamaGuardNodePostprocessor"]


class LlamaGuardNodePostprocessor(JudgesNodes, BaseNodePostprocessor):
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
    where: ClassVar[str] = "retrieved"

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

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return run_plan(self._plan(nodes), self._guard)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return await arun_plan(self._plan(nodes), self._guard)
