"""LlamaGuardNodePostprocessor (retrieval) and LlamaGuardTransform (ingestion)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.llamashield import LlamaGuardNodePostprocessor, LlamaGuardTransform

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from tests.llamaindex.li_helpers import POISONED_DOC, SAFE_DOCS, mentions_unsafe


def scored(texts: list[str]) -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t), score=1.0) for t in texts]


class CountingBackend(SimulatedBackend):
    """The simulator, counting calls and the most checks in flight at once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0
        self.peak = 0

    async def acomplete(self, request: Any, *, timeout: float) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super().acomplete(request, timeout=timeout)
        finally:
            self.in_flight -= 1


def test_poisoned_node_is_dropped_before_the_prompt(guard: LlamaGuard, poisoned_index: Any) -> None:
    engine = poisoned_index.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=3,
        node_postprocessors=[LlamaGuardNodePostprocessor(guard)],
    )
    response = engine.query("Tell me about Paris")
    # MockLLM answers with its prompt: the poisoned text never got into it.
    assert not mentions_unsafe(str(response))
    assert SAFE_DOCS[0] in str(response)
    assert len(response.source_nodes) == len(SAFE_DOCS)


async def test_async_retrieval_drops_the_poisoned_node(
    guard: LlamaGuard, poisoned_index: Any
) -> None:
    engine = poisoned_index.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=3,
        node_postprocessors=[LlamaGuardNodePostprocessor(guard)],
    )
    response = await engine.aquery("Tell me about Paris")
    assert not mentions_unsafe(str(response))
    assert len(response.source_nodes) == len(SAFE_DOCS)


def test_flag_mode_keeps_nodes_and_marks_them(guard: LlamaGuard) -> None:
    nodes = scored([*SAFE_DOCS, POISONED_DOC])
    kept = LlamaGuardNodePostprocessor(guard, mode="flag").postprocess_nodes(nodes)
    assert len(kept) == 3
    flags = [n.node.metadata["llamashield"] for n in kept]
    assert [f["safe"] for f in flags] == [True, True, False]
    assert flags[2]["categories"] == ["S8"]
    # The flag is for the application, not for the LLM: it stays out of the prompt text.
    assert "llamashield" not in kept[2].node.get_content(metadata_mode=MetadataMode.LLM)


async def test_nodes_are_judged_concurrently_in_one_batch() -> None:
    backend = CountingBackend(latency=0.02)
    postprocessor = LlamaGuardNodePostprocessor(LlamaGuard(backend))
    kept = await postprocessor.apostprocess_nodes(scored([f"fact {i}" for i in range(10)]))
    assert len(kept) == 10
    assert backend.calls == 10
    assert backend.peak == 10


def test_guard_outage_drops_nodes(loopback_server: Any) -> None:
    guard = loopback_server.guard(max_retries=0)
    loopback_server.inject("status", status=500, times=None)
    kept = LlamaGuardNodePostprocessor(guard).postprocess_nodes(scored(SAFE_DOCS))
    assert kept == []  # fail closed: an unjudged node is not trusted


def test_empty_input_makes_no_call(sim_guard: LlamaGuard) -> None:
    assert LlamaGuardNodePostprocessor(sim_guard).postprocess_nodes([]) == []
    assert sim_guard.backend.calls == 0  # type: ignore[attr-defined]


def test_bad_mode_is_rejected(sim_guard: LlamaGuard) -> None:
    with pytest.raises(ValueError, match="mode"):
        LlamaGuardNodePostprocessor(sim_guard, mode="delete")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        LlamaGuardTransform(sim_guard, mode="delete")  # type: ignore[arg-type]


# -- ingestion -----------------------------------------------------------------------------


def documents() -> list[Document]:
    return [Document(text=t) for t in [*SAFE_DOCS, POISONED_DOC]]


def test_pipeline_keeps_poisoned_documents_out_of_the_index(guard: LlamaGuard) -> None:
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(chunk_size=64, chunk_overlap=0),
            LlamaGuardTransform(guard),
        ]
    )
    nodes = pipeline.run(documents=documents())
    assert len(nodes) == len(SAFE_DOCS)
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    texts = [n.get_content() for n in index.docstore.docs.values()]
    assert not any(mentions_unsafe(t) for t in texts)


async def test_async_pipeline_with_small_batches(guard: LlamaGuard) -> None:
    transform = LlamaGuardTransform(guard, batch_size=2)
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(), transform])
    nodes = await pipeline.arun(documents=documents())
    assert [n.get_content() for n in nodes] == SAFE_DOCS


def test_transform_flag_mode(sim_guard: LlamaGuard) -> None:
    nodes = [TextNode(text=t) for t in [POISONED_DOC, SAFE_DOCS[0]]]
    flagged = LlamaGuardTransform(sim_guard, mode="flag")(nodes)
    assert [n.metadata["llamashield"]["safe"] for n in flagged] == [False, True]
