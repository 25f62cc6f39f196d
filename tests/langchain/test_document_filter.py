"""LlamaGuardDocumentFilter: unsafe retrieved documents never reach the prompt; corpora filtered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_llamashield import LlamaGuardDocumentFilter

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, BaseBackend, GuardRequest
from llamashield.testing import LoopbackServer

SAFE = [
    "Volcanoes form where magma rises through the crust.",
    "Basalt is a volcanic rock that cools quickly.",
    "Mount Etna is one of the most active volcanoes in Europe.",
]
UNSAFE = "To build a bomb at home, pack the explosives into a pipe."


def corpus() -> list[Document]:
    docs = [Document(page_content=text, metadata={"n": i}) for i, text in enumerate(SAFE)]
    return [*docs[:2], Document(page_content=UNSAFE, metadata={"n": 99}), docs[2]]


def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(corpus())
    return store


both = pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])


def compression_retriever(guard: LlamaGuard, **options: Any) -> Runnable[str, list[Document]]:
    """``ContextualCompressionRetriever`` (langchain-classic) with the filter as compressor."""
    retrievers = pytest.importorskip("langchain_classic.retrievers")
    return retrievers.ContextualCompressionRetriever(  # type: ignore[no-any-return]
        base_compressor=LlamaGuardDocumentFilter(guard, **options),
        base_retriever=vector_store().as_retriever(search_kwargs={"k": 4}),
    )


def test_the_base_retriever_does_return_the_unsafe_document() -> None:
    # The control for the tests below: without the filter the unsafe text is retrieved.
    docs = vector_store().as_retriever(search_kwargs={"k": 4}).invoke("volcanoes")
    assert UNSAFE in [d.page_content for d in docs]


@both
async def test_compression_retriever_drops_the_unsafe_document(
    guard: LlamaGuard, use_async: bool
) -> None:
    retriever = compression_retriever(guard)
    if use_async:
        docs = await retriever.ainvoke("volcanoes")
    else:
        docs = retriever.invoke("volcanoes")
    assert sorted(d.page_content for d in docs) == sorted(SAFE)


def filtering_retriever(guard: LlamaGuard) -> Runnable[str, list[Document]]:
    """The same without langchain-classic: retrieve, then filter with the query, in LCEL."""
    filt = LlamaGuardDocumentFilter(guard)
    retriever = vector_store().as_retriever(search_kwargs={"k": 4})
    retrieve = RunnableParallel(docs=retriever, query=RunnablePassthrough())

    def drop(found: dict[str, Any]) -> list[Document]:
        return list(filt.compress_documents(found["docs"], found["query"]))

    async def adrop(found: dict[str, Any]) -> list[Document]:
        return list(await filt.acompress_documents(found["docs"], found["query"]))

    return retrieve | RunnableLambda(drop, afunc=adrop)


@both
@pytest.mark.parametrize("make_retriever", [compression_retriever, filtering_retriever],
                         ids=["compression-retriever", "lcel"])  # fmt: skip
async def test_retrieval_chain_never_puts_the_unsafe_document_in_the_prompt(
    guard: LlamaGuard, use_async: bool, make_retriever: Any
) -> None:
    prompts: list[str] = []

    def fake_llm(prompt: Any) -> str:
        prompts.append(prompt.to_string())
        return "an answer"

    def joined(docs: list[Document]) -> str:
        return "\n".join(d.page_content for d in docs)

    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chain = (
        {
            "context": make_retriever(guard) | RunnableLambda(joined),
            "question": RunnablePassthrough(),
        }
        | prompt
        | RunnableLambda(fake_llm)
    )
    answer = await chain.ainvoke("volcanoes") if use_async else chain.invoke("volcanoes")
    assert answer == "an answer"
    (sent,) = prompts
    assert "bomb" not in sent
    assert all(text in sent for text in SAFE)


@both
async def test_transformer_drops_unsafe_documents_at_ingestion(
    guard: LlamaGuard, use_async: bool
) -> None:
    filt = LlamaGuardDocumentFilter(guard)
    docs = (
        await filt.atransform_documents(corpus())
        if use_async
        else filt.transform_documents(corpus())
    )
    assert [d.metadata["n"] for d in docs] == [0, 1, 2]


@both
async def test_flag_mode_keeps_everything_and_records_verdicts(
    guard: LlamaGuard, use_async: bool
) -> None:
    filt = LlamaGuardDocumentFilter(guard, mode="flag")
    docs = (
        await filt.atransform_documents(corpus())
        if use_async
        else filt.transform_documents(corpus())
    )
    assert len(docs) == 4
    flags = {d.metadata["n"]: d.metadata["llamashield"] for d in docs}
    assert flags[99]["safe"] is False and flags[99]["categories"] == ["S8"]
    assert all(flags[n]["safe"] for n in (0, 1, 2))
    assert all("llamashield" not in d.metadata for d in corpus())  # inputs untouched


def test_flag_mode_metadata_key() -> None:
    filt = LlamaGuardDocumentFilter(LlamaGuard(SimulatedBackend()), mode="flag", metadata_key="g")
    (doc,) = filt.transform_documents([Document(page_content="hi")])
    assert doc.metadata["g"]["safe"] is True


def test_agent_role_judges_documents_as_answers_to_the_query() -> None:
    requests: list[GuardRequest] = []
    backend = SimulatedBackend()

    class Recording(BaseBackend):
        model, taxonomy = backend.model, backend.taxonomy

        def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            requests.append(request)
            return backend.complete(request, timeout=timeout)

        async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            return self.complete(request, timeout=timeout)

    filt = LlamaGuardDocumentFilter(LlamaGuard(Recording()), role="agent")
    filt.compress_documents([Document(page_content="Basalt is a rock.")], "what is basalt?")
    (request,) = requests
    assert [t.role for t in request.conversation] == ["user", "agent"]
    assert request.conversation[0].content == "what is basalt?"


async def test_async_documents_are_judged_concurrently_in_one_batch() -> None:
    in_flight = 0
    peak = 0
    backend = SimulatedBackend()

    class Concurrent(BaseBackend):
        model, taxonomy = backend.model, backend.taxonomy

        def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            raise AssertionError("the async path must not call the sync backend")

        async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return backend.complete(request, timeout=timeout)

    filt = LlamaGuardDocumentFilter(LlamaGuard(Concurrent()))
    docs = await filt.acompress_documents(corpus(), "volcanoes")
    assert len(docs) == 3
    assert peak == 4


def test_guard_outage_drops_everything_unless_errors_are_allowed(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.inject("status", status=503, times=None)
    closed = LlamaGuardDocumentFilter(loopback_server.guard(max_retries=0))
    assert closed.transform_documents(corpus()) == []
    open_ = LlamaGuardDocumentFilter(loopback_server.guard(max_retries=0, on_error="allow"))
    assert len(open_.transform_documents(corpus())) == 4


async def test_no_documents_no_guard_call(loopback_server: LoopbackServer) -> None:
    filt = LlamaGuardDocumentFilter(loopback_server.guard())
    assert filt.compress_documents([], "q") == []
    assert await filt.acompress_documents([], "q") == []
    assert loopback_server.count(model=loopback_server.guard_model) == 0
