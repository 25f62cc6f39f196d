"""GuardedQueryEngine judges only `query_bundle.query_str` (query_engine.py `_plan`:
`Judge([question])`); a `QueryBundle` also carries `image_path`, the image a LlamaIndex engine
queries with (`QueryBundle.embedding_image`: image-to-image retrieval; multi-modal engines put
the picture before their model). `QueryBundle(query_str="describe this", image_path=upload)`
reaches the inner engine even under media="block", the policy that says no image passes: a
content shape the guard does not read is passed instead of judged or blocked. (Nothing should
read the file: blocking needs no I/O.)"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import QueryBundle
from llama_index.llamashield import GuardedQueryEngine

from tests._support.last_turn import last_turn_guard


class Recording(BaseQueryEngine):
    def __init__(self) -> None:
        super().__init__(CallbackManager([]))
        self.asked: list[QueryBundle] = []

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        self.asked.append(query_bundle)
        return Response("A mild picture.")

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)


def test_a_query_image_meets_the_media_policy() -> None:
    inner = Recording()
    engine = GuardedQueryEngine(inner, last_turn_guard(media="block")[0], on_unsafe="refuse")
    engine.query(QueryBundle(query_str="describe this", image_path="/uploads/not-read.png"))
    assert not any(q.image_path for q in inner.asked), "the image reached the engine"


def test_control_a_text_query_passes() -> None:
    inner = Recording()
    engine = GuardedQueryEngine(inner, last_turn_guard(media="block")[0], on_unsafe="refuse")
    assert str(engine.query(QueryBundle(query_str="describe volcanoes"))) == "A mild picture."
