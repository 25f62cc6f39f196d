"""GuardedChatEngine's refusal drops the unsafe answer's `sources` and `source_nodes` when the
answer does not stream (chat/achat), but a streamed answer that is cut and refused keeps them:
GuardedStreamingResponse.relaying (_stream_turns.py) copies `inner.sources` and
`inner.source_nodes` up front. With a ContextChatEngine those are the retrieved passages the
answer was blocked for (`source_nodes`, and the retriever's ToolOutput in `sources`): the
consumer of the streamed refusal reads them. MockLLM echoes its prompt, so its answer quotes the
retrieved passage and is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.chat_engine import ContextChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.llamashield import GuardedChatEngine

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks

PAYLOAD = f"Step 1: {TRIGGER} PAYLOAD"


class Planted(BaseRetriever):
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(text=PAYLOAD), score=1.0)]


def _engine() -> GuardedChatEngine:
    inner = ContextChatEngine.from_defaults(retriever=Planted(), llm=MockLLM(max_tokens=None))
    return GuardedChatEngine(inner, last_turn_guard()[0], on_unsafe="refuse")


def _answer(how: str) -> tuple[str, Any]:
    if how == "chat":
        response: Any = _engine().chat("show me")
        return response.response, response
    if how == "stream_chat":
        response = _engine().stream_chat("show me")
        return "".join(response.response_gen), response

    async def run() -> tuple[str, Any]:
        response: Any = await _engine().astream_chat("show me")
        return "".join([t async for t in response.async_response_gen()]), response

    return asyncio.run(run())


@pytest.mark.parametrize("how", ["chat", "stream_chat", "astream_chat"])
def test_a_refusal_carries_no_source_of_the_unsafe_answer(how: str) -> None:
    text, response = _answer(how)
    assert "can't help" in text and not leaks(text)
    assert not leaks(response.source_nodes), response.source_nodes
    assert not leaks(response.sources), response.sources
