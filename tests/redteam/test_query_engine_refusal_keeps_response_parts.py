"""GuardedQueryEngine(on_unsafe="refuse") judges the answer text (`response.response`) and, when
it is unsafe, builds the refusal with the unsafe response's own metadata and source nodes
(query_engine.py `_refusal_response`: `sources = list(response.source_nodes)`, `metadata =
_metadata_with(response, records)`). LlamaIndex engines put the answer's raw material there:
PandasQueryEngine's `metadata["raw_pandas_output"]`, NLSQLTableQueryEngine's
`metadata["result"]` (the rows), the passages an answer quoted in `source_nodes`. The consumer
of the "refusal" gets exactly what made the answer unsafe. (Keeping the sources is deliberate
per the comment there, "they explain what was retrieved"; the passage the answer was blocked
for is one of them.) Sync and async alike."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.llamashield import GuardedQueryEngine

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks

PAYLOAD = f"Step 1: {TRIGGER} PAYLOAD"


class PandasLike(BaseQueryEngine):
    """Answers as PandasQueryEngine does: the text, and the raw output in the metadata."""

    def __init__(self) -> None:
        super().__init__(CallbackManager([]))

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        source = NodeWithScore(node=TextNode(text=PAYLOAD), score=1.0)
        return Response(PAYLOAD, [source], {"raw_pandas_output": PAYLOAD})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)


def refusals() -> list[Any]:
    guard, _ = last_turn_guard()
    engine = GuardedQueryEngine(PandasLike(), guard, on_unsafe="refuse")
    return [engine.query("show me"), asyncio.run(engine.aquery("show me"))]


def test_the_refusal_carries_no_metadata_of_the_unsafe_answer() -> None:
    for refusal in refusals():
        assert "can't help" in str(refusal.response)
        assert not leaks(refusal.metadata), refusal.metadata


def test_the_refusal_carries_no_source_the_answer_was_blocked_for() -> None:
    for refusal in refusals():
        assert not leaks(refusal.source_nodes), refusal.source_nodes
