"""LlamaGuardDocumentFilter judges `doc.page_content` only (document_filter.py `_conversations`:
`user_turn(doc.page_content)`), and LlamaGuardCallbackHandler's `on_retriever_end` too
(callbacks.py `retriever_end`). A retrieved document's metadata reaches the model wherever a
chain formats documents with it (`create_stuff_documents_chain(...,
document_prompt=PromptTemplate.from_template("{title}: {page_content}"))`, citations,
"Source: {source}") and always reaches the consumer of the retriever. The rest of the adapter
reads a Document as [page_content, metadata] (_inputs.plain), and the LlamaIndex postprocessor
judges a node's text with its LLM-visible metadata (MetadataMode.LLM): here a payload in a
title passes the filter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import PromptTemplate, format_document
from langchain_core.retrievers import BaseRetriever
from langchain_llamashield import LlamaGuardCallbackHandler, LlamaGuardDocumentFilter

from llamashield import UnsafeContentError
from tests._support.last_turn import TRIGGER, last_turn_guard


def documents() -> list[Document]:
    return [
        Document(page_content="Volcanoes form where magma rises.", metadata={"title": "Volcanoes"}),
        Document(page_content="See the title.", metadata={"title": f"{TRIGGER} PAYLOAD"}),
    ]


def test_a_document_whose_metadata_is_unsafe_is_dropped() -> None:
    guard, _ = last_turn_guard()
    kept = LlamaGuardDocumentFilter(guard).compress_documents(documents(), "volcanoes?")
    akept = asyncio.run(
        LlamaGuardDocumentFilter(guard).acompress_documents(documents(), "volcanoes?")
    )
    prompt = PromptTemplate.from_template("{title}: {page_content}")
    shown = [format_document(d, prompt) for d in kept]  # what a stuff-documents chain sends
    assert not any("PAYLOAD" in s for s in shown), f"reaches the prompt: {shown}"
    assert len(akept) == 1


class _Listed(BaseRetriever):
    """Returns its documents whatever the query."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, **kwargs: Any) -> list[Document]:
        return self.docs


def test_the_callback_handler_aborts_on_unsafe_metadata() -> None:
    guard, _ = last_turn_guard()
    handler = LlamaGuardCallbackHandler(guard)
    with pytest.raises(UnsafeContentError) as caught:
        _Listed(docs=documents()).invoke("volcanoes?", config={"callbacks": [handler]})
    assert caught.value.stage == "document"
    with pytest.raises(UnsafeContentError):
        asyncio.run(
            _Listed(docs=documents()).ainvoke("volcanoes?", config={"callbacks": [handler]})
        )


def test_control_safe_metadata_passes() -> None:
    guard, _ = last_turn_guard()
    docs = documents()[:1]
    assert LlamaGuardDocumentFilter(guard).compress_documents(docs, "q") == docs
    assert _Listed(docs=docs).invoke("q", config={"callbacks": [LlamaGuardCallbackHandler(guard)]})


def test_control_unsafe_page_content_is_dropped() -> None:
    guard, _ = last_turn_guard()
    docs = [Document(page_content=f"{TRIGGER} PAYLOAD"), Document(page_content="fine")]
    assert [
        d.page_content for d in LlamaGuardDocumentFilter(guard).compress_documents(docs, "q")
    ] == ["fine"]
