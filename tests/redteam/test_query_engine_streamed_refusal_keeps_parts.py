"""The query-engine refusal fix (test_query_engine_refusal_keeps_response_parts: "nothing of an
unsafe answer stays: its sources and metadata are its raw material") covers only answers that do
not stream. A streaming engine's answer is moderated as it streams
(query_engine.py `_moderated_stream`), and the response handed to the consumer is built up front
with the inner response's `source_nodes` and metadata (`_metadata_with(response, ...)`): when the
stream is cut and the refusal streamed in its place, the response still carries the passages
and the raw output (PandasQueryEngine's `raw_pandas_output`, NLSQL's `result`) the answer was
blocked for. Sync and async alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.llamashield import GuardedQueryEngine

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks

PAYLOAD = f"Step 1: {TRIGGER} PAYLOAD"
TOKENS = ["Step ", "1: ", TRIGGER, " PAYLOAD"]


class StreamingPandasLike(BaseQueryEngine):
    """Streams its answer, with the raw output in the metadata and the passage as a source."""

    def __init__(self) -> None:
        super().__init__(CallbackManager([]))

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _parts(self) -> tuple[list[NodeWithScore], dict[str, Any]]:
        return [NodeWithScore(node=TextNode(text=PAYLOAD), score=1.0)], {
            "raw_pandas_output": PAYLOAD
        }

    def _query(self, query_bundle: QueryBundle) -> StreamingResponse:
        return StreamingResponse((t for t in TOKENS), *self._parts())

    async def _aquery(self, query_bundle: QueryBundle) -> AsyncStreamingResponse:
        async def tokens() -> AsyncGenerator[str, None]:
            for token in TOKENS:
                yield token

        return AsyncStreamingResponse(tokens(), *self._parts())


def _refused(how: str) -> tuple[str, Any]:
    engine = GuardedQueryEngine(StreamingPandasLike(), last_turn_guard()[0], on_unsafe="refuse")
    if how == "sync":
        response: Any = engine.query("show me")
        return "".join(response.response_gen), response

    async def run() -> tuple[str, Any]:
        response: Any = await engine.aquery("show me")
        return "".join([t async for t in response.async_response_gen()]), response

    return asyncio.run(run())


@pytest.mark.parametrize("how", ["sync", "async"])
def test_a_streamed_refusal_carries_nothing_of_the_unsafe_answer(how: str) -> None:
    text, response = _refused(how)
    assert "can't help" in text and not leaks(text)  # the stream itself is refused...
    assert not leaks(response.metadata), response.metadata  # ...its parts are not
    assert not leaks(response.source_nodes), response.source_nodes
