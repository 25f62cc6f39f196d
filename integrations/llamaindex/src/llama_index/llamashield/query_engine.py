"""``GuardedQueryEngine``: Llama Guard around any LlamaIndex query engine."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    PydanticResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import QueryBundle
from llama_index.llamashield._common import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    agent_turn,
    check_guard,
)
from llama_index.llamashield._on_unsafe import (
    OnUnsafe,
    acall_fallback,
    call_fallback,
    check_on_unsafe,
)
from llama_index.llamashield._stream import amoderate_tokens, moderate_tokens

from llamashield import LlamaGuard, UnsafeContentError, Verdict

__all__ = ["GuardedQueryEngine"]


class GuardedQueryEngine(BaseQueryEngine):
    """A query engine whose questions and answers Llama Guard checks.

    An unsafe question never reaches the inner engine (no retrieval, no LLM call). The answer
    is judged as the Agent's turn after the question; a streaming answer keeps streaming, and
    only text the guard has passed is released. Verdicts go into
    ``response.metadata["llamashield"]`` (``{"input": Verdict, "output": Verdict}``), next to
    the inner engine's ``source_nodes`` and metadata.

    Example::

        from llama_index.llamashield import GuardedQueryEngine
        from llamashield import LlamaGuard

        engine = GuardedQueryEngine(index.as_query_engine(), LlamaGuard(), on_unsafe="refuse")
        print(engine.query("How do I make a bomb?"))    # I can't help with that request.

    Args:
        engine: the query engine to guard (called through its public ``query``/``aquery``).
        guard: the ``LlamaGuard`` that judges.
        check_input: judge the question before the engine runs.
        check_output: judge the answer before it is returned (or as it streams).
        on_unsafe: ``"raise"`` (``UnsafeContentError``), ``"refuse"`` (a response with
            ``refusal``), another query engine to reroute to, or a callable
            ``(query_str, UnsafeContentError) -> str | Response`` (async under ``aquery``).
            A stream that turns unsafe after text was released cannot be rerouted: it ends
            with the refusal (or raises, under ``"raise"``).
        refusal: the text of a refusal.
        streaming: whether a refusal is a streaming response; default: what the inner
            engine's response synthesizer does.
    """

    def __init__(
        self,
        engine: BaseQueryEngine,
        guard: LlamaGuard,
        *,
        check_input: bool = True,
        check_output: bool = True,
        on_unsafe: OnUnsafe = "raise",
        refusal: str = DEFAULT_REFUSAL,
        streaming: bool | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        if not isinstance(engine, BaseQueryEngine):
            raise TypeError(f"engine must be a BaseQueryEngine, got {type(engine).__name__}")
        self._engine = engine
        self._guard = check_guard(guard)
        self._check_input = check_input
        self._check_output = check_output
        self._on_unsafe = check_on_unsafe(on_unsafe, (BaseQueryEngine,))
        self._refusal = refusal
        self._streaming = _engine_streams(engine) if streaming is None else streaming
        super().__init__(callback_manager or getattr(engine, "callback_manager", None))

    @property
    def engine(self) -> BaseQueryEngine:
        return self._engine

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    def _get_prompt_modules(self) -> PromptMixinType:
        return {"engine": self._engine}

    # -- sync -----------------------------------------------------------------------------

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        verdicts: dict[str, Verdict] = {}
        question = query_bundle.query_str
        if self._check_input:
            verdicts["input"] = verdict = self._guard.check(question)
            if not verdict.safe:
                return self._blocked(query_bundle, UnsafeContentError(verdict, "input"), verdicts)
        response = self._engine.query(query_bundle)
        if not self._check_output:
            return _with_verdicts(response, verdicts)
        if isinstance(response, StreamingResponse):
            return self._moderated_stream(question, response, verdicts)
        if isinstance(response, AsyncStreamingResponse):
            return self._amoderated_stream(question, response, verdicts)
        verdicts["output"] = verdict = self._guard.check(
            agent_turn(question, _response_content(response))
        )
        if not verdict.safe:
            error = UnsafeContentError(verdict, "output")
            return self._blocked(query_bundle, error, verdicts, response)
        return _with_verdicts(response, verdicts)

    def _blocked(
        self,
        query_bundle: QueryBundle,
        error: UnsafeContentError,
        verdicts: dict[str, Verdict],
        response: RESPONSE_TYPE | None = None,
    ) -> RESPONSE_TYPE:
        if self._on_unsafe == "raise":
            raise error
        if self._on_unsafe == "refuse":
            return self._refusal_response(response, verdicts, streaming_async=False)
        if isinstance(self._on_unsafe, BaseQueryEngine):
            answer: Any = self._on_unsafe.query(query_bundle)
        else:
            answer = call_fallback(self._on_unsafe, query_bundle.query_str, error)
        return _with_verdicts(_as_response(answer), verdicts)

    # -- async ----------------------------------------------------------------------------

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        verdicts: dict[str, Verdict] = {}
        question = query_bundle.query_str
        if self._check_input:
            verdicts["input"] = verdict = await self._guard.acheck(question)
            if not verdict.safe:
                error = UnsafeContentError(verdict, "input")
                return await self._ablocked(query_bundle, error, verdicts)
        response = await self._engine.aquery(query_bundle)
        if not self._check_output:
            return _with_verdicts(response, verdicts)
        if isinstance(response, AsyncStreamingResponse):
            return self._amoderated_stream(question, response, verdicts)
        if isinstance(response, StreamingResponse):
            return self._moderated_stream(question, response, verdicts)
        verdicts["output"] = verdict = await self._guard.acheck(
            agent_turn(question, _response_content(response))
        )
        if not verdict.safe:
            error = UnsafeContentError(verdict, "output")
            return await self._ablocked(query_bundle, error, verdicts, response)
        return _with_verdicts(response, verdicts)

    async def _ablocked(
        self,
        query_bundle: QueryBundle,
        error: UnsafeContentError,
        verdicts: dict[str, Verdict],
        response: RESPONSE_TYPE | None = None,
    ) -> RESPONSE_TYPE:
        if self._on_unsafe == "raise":
            raise error
        if self._on_unsafe == "refuse":
            return self._refusal_response(response, verdicts, streaming_async=True)
        if isinstance(self._on_unsafe, BaseQueryEngine):
            answer: Any = await self._on_unsafe.aquery(query_bundle)
        else:
            answer = await acall_fallback(self._on_unsafe, query_bundle.query_str, error)
        return _with_verdicts(_as_response(answer), verdicts)

    # -- shared, no I/O -------------------------------------------------------------------

    def _refusal_response(
        self,
        response: RESPONSE_TYPE | None,
        verdicts: dict[str, Verdict],
        *,
        streaming_async: bool,
    ) -> RESPONSE_TYPE:
        # An unsafe answer keeps its sources (they explain what was retrieved); a blocked
        # question has none, since retrieval never ran.
        sources = list(response.source_nodes) if response is not None else []
        metadata = dict(response.metadata or {}) if response is not None else {}
        metadata[METADATA_KEY] = dict(verdicts)
        streaming = self._streaming or isinstance(
            response, StreamingResponse | AsyncStreamingResponse
        )
        if not streaming:
            return Response(self._refusal, sources, metadata)
        if streaming_async:
            return AsyncStreamingResponse(_agen_once(self._refusal), sources, metadata)
        return StreamingResponse(_gen_once(self._refusal), sources, metadata)

    def _moderated_stream(
        self, question: str, response: StreamingResponse, verdicts: dict[str, Verdict]
    ) -> StreamingResponse:
        metadata = _metadata_with(response, verdicts)
        tokens = moderate_tokens(
            response.response_gen,
            self._guard,
            [{"role": "user", "content": question}],
            on_unsafe=self._stream_on_unsafe(),
            refusal=self._refusal,
            record=metadata[METADATA_KEY],
        )
        return StreamingResponse(tokens, list(response.source_nodes), metadata)

    def _amoderated_stream(
        self, question: str, response: AsyncStreamingResponse, verdicts: dict[str, Verdict]
    ) -> AsyncStreamingResponse:
        metadata = _metadata_with(response, verdicts)
        tokens = amoderate_tokens(
            response.async_response_gen(),
            self._guard,
            [{"role": "user", "content": question}],
            on_unsafe=self._stream_on_unsafe(),
            refusal=self._refusal,
            record=metadata[METADATA_KEY],
        )
        return AsyncStreamingResponse(tokens, list(response.source_nodes), metadata)

    def _stream_on_unsafe(self) -> str:
        # Once text has streamed, rerouting cannot take it back: a stream that turns unsafe
        # raises under "raise" and ends with the refusal otherwise.
        return "raise" if self._on_unsafe == "raise" else "refuse"


def _engine_streams(engine: BaseQueryEngine) -> bool:
    synthesizer = getattr(engine, "_response_synthesizer", None)
    return bool(getattr(synthesizer, "_streaming", False) or getattr(engine, "streaming", False))


def _response_content(response: RESPONSE_TYPE) -> Any:
    """What the response carries to the caller (a pydantic answer is judged as its JSON by the
    core)."""
    if isinstance(response, Response | PydanticResponse):
        return response.response
    return str(response)


def _as_response(answer: Any) -> RESPONSE_TYPE:
    if isinstance(answer, Response | PydanticResponse | StreamingResponse | AsyncStreamingResponse):
        return answer
    return Response(str(answer))


def _metadata_with(response: RESPONSE_TYPE, verdicts: dict[str, Verdict]) -> dict[str, Any]:
    metadata = dict(response.metadata or {})
    metadata[METADATA_KEY] = dict(verdicts)
    return metadata


def _with_verdicts(response: RESPONSE_TYPE, verdicts: dict[str, Verdict]) -> RESPONSE_TYPE:
    response.metadata = _metadata_with(response, verdicts)
    return response


def _gen_once(text: str) -> Generator[str, None, None]:
    yield text


async def _agen_once(text: str) -> AsyncGenerator[str, None]:
    yield text
