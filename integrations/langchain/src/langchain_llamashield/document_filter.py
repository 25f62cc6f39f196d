"""``LlamaGuardDocumentFilter``: drop or flag unsafe documents, at retrieval or at ingestion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.documents import BaseDocumentTransformer, Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from pydantic import ConfigDict

from langchain_llamashield._inputs import document_content
from langchain_llamashield._judging import Conversation, agent_turn, user_turn
from llamashield import LlamaGuard, Verdict
from llamashield.integration import (
    METADATA_KEY,
    Judge,
    Plan,
    arun_plan,
    run_plan,
    verdict_metadata,
)

if TYPE_CHECKING:
    from langchain_core.callbacks import Callbacks

__all__ = ["LlamaGuardDocumentFilter"]

logger = logging.getLogger("llamashield")


class LlamaGuardDocumentFilter(BaseDocumentCompressor, BaseDocumentTransformer):
    """Judge documents with Llama Guard and drop (or flag) the unsafe ones.

    All documents of one call are judged concurrently in one ``check_many`` (sync) or
    ``acheck_many`` (async, on the running loop). A document whose check failed counts as
    unsafe unless the guard was built with ``on_error="allow"``.

    As a document compressor it filters what a retriever returns before it reaches the prompt;
    as a document transformer it filters a corpus before it is indexed.

    Example::

        from langchain_classic.retrievers import ContextualCompressionRetriever

        retriever = ContextualCompressionRetriever(
            base_compressor=LlamaGuardDocumentFilter(guard),
            base_retriever=vector_store.as_retriever(),
        )
        docs = retriever.invoke("how do volcanoes form?")     # unsafe documents dropped

        clean = LlamaGuardDocumentFilter(guard).transform_documents(corpus)   # at ingestion
        flagged = LlamaGuardDocumentFilter(guard, mode="flag").transform_documents(corpus)
        flagged[0].metadata["llamashield"]     # {"safe": True, "stage": "document", ...}

    Args:
        guard: the ``LlamaGuard`` that judges.
        mode: ``"drop"`` removes unsafe documents; ``"flag"`` keeps every document and records
            the verdict in ``metadata[metadata_key]`` (``safe``, ``categories``, ``score``...).
        role: ``"user"`` (default) judges a document as content entering the conversation;
            ``"agent"`` judges it as an answer to the query (compressor only; at ingestion
            there is no query and the User turn is empty).
        metadata_key: where ``"flag"`` mode writes the verdict.
        shadow: judge and record, drop nothing; default: the guard's own ``shadow``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    guard: LlamaGuard
    mode: Literal["drop", "flag"] = "drop"
    role: Literal["user", "agent"] = "user"
    metadata_key: str = METADATA_KEY
    shadow: bool | None = None

    def __init__(self, guard: LlamaGuard, **kwargs: Any) -> None:
        super().__init__(guard=guard, **kwargs)
        self.guard = self.guard.with_shadow(self.shadow)

    # -- one plan (no I/O), driven by the sync and the async methods ----------------------

    def _conversations(
        self, documents: Sequence[Document], query: str | None
    ) -> list[Conversation]:
        # Text and metadata alike: either can reach the prompt (see ``document_content``).
        contents = [document_content(doc, without=self.metadata_key) for doc in documents]
        if self.role == "agent":
            return [agent_turn(query, content) for content in contents]
        return [user_turn(content) for content in contents]

    def _plan(self, documents: Sequence[Document], query: str | None) -> Plan[list[Document]]:
        """Judge every document at once; drop the unsafe ones, or flag each."""
        if not documents:
            return []
        verdicts: list[Verdict] = yield Judge(self._conversations(documents, query), "document")
        if self.mode == "flag":
            return [
                Document(
                    page_content=doc.page_content,
                    metadata={
                        **doc.metadata,
                        self.metadata_key: verdict_metadata(verdict, stage="document"),
                    },
                    id=doc.id,
                )
                for doc, verdict in zip(documents, verdicts, strict=True)
            ]
        kept = [doc for doc, v in zip(documents, verdicts, strict=True) if v.safe]
        if len(kept) < len(documents):
            logger.info("llamashield dropped %d of %d documents", len(documents) - len(kept),
                        len(documents))  # fmt: skip
        return kept

    # -- BaseDocumentCompressor -----------------------------------------------------------

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Filter retrieved documents (``ContextualCompressionRetriever`` calls this)."""
        return run_plan(self._plan(documents, query), self.guard)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async ``compress_documents``: judged concurrently on the running loop, no thread."""
        return await arun_plan(self._plan(documents, query), self.guard)

    # -- BaseDocumentTransformer ----------------------------------------------------------

    def transform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Filter a corpus (at ingestion: before splitting, embedding or indexing)."""
        return run_plan(self._plan(documents, kwargs.get("query")), self.guard)

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Async ``transform_documents``."""
        return await arun_plan(self._plan(documents, kwargs.get("query")), self.guard)
