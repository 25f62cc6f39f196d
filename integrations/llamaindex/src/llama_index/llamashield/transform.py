"""``LlamaGuardTransform``: poisoned documents never enter the index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.schema import BaseNode, TransformComponent
from llama_index.llamashield._judging import (
    JudgesNodes,
    NodeMode,
    check_guard,
    check_node_mode,
)

from llamashield import LlamaGuard
from llamashield.integration import arun_plan, run_plan

__all__ = ["LlamaGuardTransform"]


class LlamaGuardTransform(JudgesNodes, TransformComponent):
    """An ``IngestionPipeline`` step that drops (or flags) unsafe nodes before indexing.

    Nodes are judged as User messages in concurrent batches of ``batch_size``. Put it after
    the splitter, so each chunk is judged on its own text. A node the guard could not judge
    counts as unsafe. ``mode="flag"`` keeps every node and writes
    ``node.metadata["llamashield"]``; exclude that key from embeddings if it matters.

    Example::

        from llama_index.core.ingestion import IngestionPipeline
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.llamashield import LlamaGuardTransform

        pipeline = IngestionPipeline(
            transformations=[SentenceSplitter(), LlamaGuardTransform(guard)]
        )
        nodes = pipeline.run(documents=documents)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    where: ClassVar[str] = "ingested"

    mode: NodeMode = Field(default="drop", description="'drop' or 'flag' unsafe nodes")
    batch_size: int = Field(default=64, ge=1, description="nodes judged concurrently at once")
    _guard: LlamaGuard = PrivateAttr()

    def __init__(
        self,
        guard: LlamaGuard,
        mode: NodeMode = "drop",
        batch_size: int = 64,
        *,
        shadow: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=check_node_mode(mode), batch_size=batch_size, **kwargs)
        self._guard = check_guard(guard, shadow)  # shadow: every node kept, verdicts recorded

    @classmethod
    def class_name(cls) -> str:
        return "LlamaGuardTransform"

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        return run_plan(self._plan(nodes, self.batch_size), self._guard)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        return await arun_plan(self._plan(nodes, self.batch_size), self._guard)
