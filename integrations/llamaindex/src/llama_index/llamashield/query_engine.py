"""``GuardedQueryEngine``: Llama Guard around any LlamaIndex query engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
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
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llamashield._compat import engine_streams
from llama_index.llamashield._judging import agent_turn
from llama_index.llamashield._on_unsafe import GuardedEngine, OnUnsafe
from llama_index.llamashield._stream import (
    Driver,
    Records,
    flavoured,
    moderated_answer,
    once,
    tokens_of,
)

from llamashield import LlamaGuard
from llamashield.integration import (
    METADATA_KEY,
    Blocked,
    Call,
    Judge,
    Plan,
    StreamModeration,
    arun_plan,
    astream_plan,
    run_plan,
    stream_plan,
    unsafe_outcome,
    verdict_metadata,
)
from llamashield.streaming import WindowSpec

__all__ = ["GuardedQueryEngine"]


class GuardedQueryEngine(GuardedEngine[BaseQueryEngine], BaseQueryEngine):
    """A query engine whose questions and answers Llama Guard checks.

    An unsafe question never reaches the inner engine (no retrieval, no LLM call). The answer
    is judged as the Agent's turn after the question; a streaming answer keeps streaming, and
    only text the guard has passed is released (window by window: ``window=``, as in the
    LangChain adapter). Verdicts go into ``response.metadata["llamashield"]`` as JSON-ready
    records (``{"input": {...}, "output": {...}}``, each ``llamashield.verdict_metadata``),
    next to the inner engine's ``source_nodes`` and metadata.

    Example::

        from llama_index.llamashield import GuardedQueryEngine
        from llamashield import LlamaGuard

        engine = GuardedQueryEngine(index.as_query_engine(), LlamaGuard(), on_unsafe="refuse")
        print(engine.query("How do I make a bomb?"))    # I'm sorry, but I can't help ...

    Args:
        engine: the query engine to guard (called through its public ``query``/``aquery``).
        guard: the ``LlamaGuard`` that judges.
        check_input: judge the question before the engine runs.
        check_output: judge the answer before it is returned (or as it streams).
        on_unsafe: ``"raise"`` (``UnsafeContentError``), ``"refuse"`` (a response with
            ``refusal``), another query engine to reroute to, or a callable receiving a
            ``Blocked`` (verdict, stage, the question or answer, the refusal) and returning
            ``str | Response`` (async under ``aquery``). A stream that turns unsafe after text
            was released cannot be rerouted: it ends with the refusal (or raises).
        refusal: the refusal template (``{categories}``, ``{codes}``, ``{stage}``).
        window: how streamed answers are judged: ``"sentence"`` or a number of characters.
        streaming: whether a refusal is a streaming response; default: what the inner
            engine's response synthesizer does.
        shadow: judge and record, never block (every verdict is recorded with ``would_block``,
            nothing is refused, rerouted or raised, a failing guard fails nothing); default:
            the guard's own ``shadow``.
    """

    def __init__(
        self,
        engine: BaseQueryEngine,
        guard: LlamaGuard,
        *,
        check_input: bool = True,
        check_output: bool = True,
        on_unsafe: OnUnsafe = "raise",
        refusal: str | None = None,
        streaming: bool | None = None,
        callback_manager: CallbackManager | None = None,
        window: WindowSpec = "sentence",
        shadow: bool | None = None,
    ) -> None:
        self._wrap(engine, BaseQueryEngine, guard, check_input=check_input,
                   check_output=check_output, on_unsafe=on_unsafe, refusal=refusal,
                   shadow=shadow)  # fmt: skip
        self._window = window
        self._streaming = engine_streams(engine) if streaming is None else streaming
        super().__init__(callback_manager or getattr(engine, "callback_manager", None))

    def _get_prompt_modules(self) -> PromptMixinType:
        return {"engine": self._engine}

    # -- one plan, driven sync and async -------------------------------------------------

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return run_plan(self._plan(query_bundle), self._shield.guard)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return await arun_plan(self._plan(query_bundle), self._shield.guard)

    def _plan(self, query_bundle: QueryBundle) -> Plan[RESPONSE_TYPE]:
        records: Records = {}
        question: Any = query_bundle.query_str
        if query_bundle.image_path:
            # The image a multi-modal engine queries with meets the guard's media policy (a
            # media part: no file is read unless the guard's media_root allows it).
            question = [question, {"type": "image", "path": query_bundle.image_path}]
        if self._shield.check_input:
            (verdict,) = yield Judge([[{"role": "user", "content": question}]])
            records["input"] = verdict_metadata(verdict, stage="input")
            if not verdict.safe:
                blocked = self._shield.blocked(verdict, "input", question)
                return (yield from self._unsafe(query_bundle, blocked, records, None))
        response = yield Call(self._engine.query, self._engine.aquery, (query_bundle,))
        if not self._shield.check_output:
            return _with_records(response, records)
        if isinstance(response, StreamingResponse | AsyncStreamingResponse):
            return self._moderated_stream(question, response, records)
        answer = _response_content(response)
        (verdict,) = yield Judge([agent_turn(question, answer)])
        records["output"] = verdict_metadata(verdict, stage="output")
        if not verdict.safe:
            blocked = self._shield.blocked(verdict, "output", answer)
            return (yield from self._unsafe(query_bundle, blocked, records, response))
        return _with_records(response, records)

    def _unsafe(
        self,
        query_bundle: QueryBundle,
        blocked: Blocked,
        records: Records,
        response: RESPONSE_TYPE | None,
    ) -> Plan[RESPONSE_TYPE]:
        """The core's unsafe outcome: raise, the refusal (a response of the kind the engine
        gives), or the reroute target's answer to the same question."""
        on_unsafe = self._shield.handlers(
            lambda b: flavoured(self._refusal_response, response, records, b.refusal),
            lambda engine: Call(engine.query, engine.aquery, (query_bundle,)),
        )
        answer = yield from unsafe_outcome(self._shield.action, blocked, on_unsafe)
        return _with_records(_as_response(answer), records)

    # -- shared, no I/O -------------------------------------------------------------------

    def _refusal_response(
        self, response: RESPONSE_TYPE | None, records: Records, refusal: str, drive: Driver
    ) -> RESPONSE_TYPE:
        """The refusal, streamed (with ``drive``: the caller's flavour) when answers stream."""
        # Nothing of an unsafe answer stays: its sources and metadata are its raw material
        # (the passages it quoted, a Pandas or SQL engine's raw output).
        sources: list[NodeWithScore] = []
        metadata: dict[str, Any] = {METADATA_KEY: dict(records)}
        streaming = self._streaming or isinstance(
            response, StreamingResponse | AsyncStreamingResponse
        )
        if not streaming:
            return Response(refusal, sources, metadata)
        return _streaming_response(drive(once(refusal), self._shield.guard), sources, metadata)

    def _moderated_stream(
        self, question: str, response: StreamingResponse | AsyncStreamingResponse, records: Records
    ) -> StreamingResponse | AsyncStreamingResponse:
        """The same kind of streaming response, releasing only judged text; the answer's
        sources and metadata (its raw material) join it once it was judged safe to its end."""
        full = _metadata_with(response, records)
        record = full[METADATA_KEY]
        sources = list(response.source_nodes)
        streamed: list[StreamingResponse | AsyncStreamingResponse] = []

        def released() -> None:
            streamed[0].source_nodes.extend(sources)
            streamed[0].metadata = {**full, METADATA_KEY: record}

        moderation = StreamModeration(context=[{"role": "user", "content": question}],
                                      window=self._window)  # fmt: skip
        plan = moderated_answer(
            tokens_of(response), moderation, self._shield, record, released=released
        )
        drive = stream_plan if isinstance(response, StreamingResponse) else astream_plan
        tokens = drive(plan, self._shield.guard)
        streamed.append(_streaming_response(tokens, [], {METADATA_KEY: record}))
        return streamed[0]


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


def _streaming_response(
    tokens: Iterator[str] | AsyncIterator[str],
    sources: list[NodeWithScore],
    metadata: dict[str, Any],
) -> StreamingResponse | AsyncStreamingResponse:
    """A streaming response of the tokens' flavour: what ``query``/``aquery`` would give."""
    if isinstance(tokens, AsyncIterator):
        return AsyncStreamingResponse(tokens, sources, metadata)  # type: ignore[arg-type]
    return StreamingResponse(tokens, sources, metadata)  # type: ignore[arg-type]


def _metadata_with(response: RESPONSE_TYPE | None, records: Records) -> dict[str, Any]:
    metadata = dict(response.metadata or {}) if response is not None else {}
    metadata[METADATA_KEY] = dict(records)
    return metadata


def _with_records(response: RESPONSE_TYPE, records: Records) -> RESPONSE_TYPE:
    response.metadata = _metadata_with(response, records)
    return response
