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
from llama_index.llamashield._compat import engine_streams
from llama_index.llamashield._judging import (
    METADATA_KEY,
    agent_turn,
    check_guard,
)
from llama_index.llamashield._on_unsafe import OnUnsafe, acall_reroute, call_reroute, parse_action
from llama_index.llamashield._stream import TokenModeration, amoderate_tokens, moderate_tokens

from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.integration import (
    Blocked,
    Call,
    Judge,
    Plan,
    arun_plan,
    format_refusal,
    run_plan,
    verdict_metadata,
)
from llamashield.streaming import WindowSpec

Records = dict[str, Any]  # stage -> the verdict's record (llamashield.verdict_metadata)

__all__ = ["GuardedQueryEngine"]


class GuardedQueryEngine(BaseQueryEngine):
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
        if not isinstance(engine, BaseQueryEngine):
            raise TypeError(f"engine must be a BaseQueryEngine, got {type(engine).__name__}")
        self._engine = engine
        self._guard = check_guard(guard, shadow)
        self._check_input = check_input
        self._check_output = check_output
        self._action = parse_action(on_unsafe, refusal, (BaseQueryEngine,))
        self._refusal = self._action.refusal
        self._window = window
        self._streaming = engine_streams(engine) if streaming is None else streaming
        super().__init__(callback_manager or getattr(engine, "callback_manager", None))

    @property
    def engine(self) -> BaseQueryEngine:
        return self._engine

    @property
    def guard(self) -> LlamaGuard:
        return self._guard

    def _get_prompt_modules(self) -> PromptMixinType:
        return {"engine": self._engine}

    # -- one plan, driven sync and async -------------------------------------------------

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return run_plan(self._plan(query_bundle, asynchronous=False), self._guard)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return await arun_plan(self._plan(query_bundle, asynchronous=True), self._guard)

    def _plan(self, query_bundle: QueryBundle, *, asynchronous: bool) -> Plan[RESPONSE_TYPE]:
        records: Records = {}
        question = query_bundle.query_str
        if self._check_input:
            (verdict,) = yield Judge([question])
            records["input"] = verdict_metadata(verdict, stage="input")
            if not verdict.safe:
                return (yield from self._blocked(query_bundle, verdict, "input", records, None,
                                                 asynchronous))  # fmt: skip
        response = yield Call(self._engine.query, self._engine.aquery, (query_bundle,))
        if not self._check_output:
            return _with_records(response, records)
        if isinstance(response, StreamingResponse | AsyncStreamingResponse):
            return self._moderated_stream(question, response, records)
        (verdict,) = yield Judge([agent_turn(question, _response_content(response))])
        records["output"] = verdict_metadata(verdict, stage="output")
        if not verdict.safe:
            return (yield from self._blocked(query_bundle, verdict, "output", records, response,
                                             asynchronous))  # fmt: skip
        return _with_records(response, records)

    def _blocked(
        self,
        query_bundle: QueryBundle,
        verdict: Verdict,
        stage: str,
        records: Records,
        response: RESPONSE_TYPE | None,
        asynchronous: bool,
    ) -> Plan[RESPONSE_TYPE]:
        mode, target = self._action.mode, self._action.target
        if mode == "raise":
            raise UnsafeContentError(verdict, stage)
        refusal = format_refusal(self._refusal, verdict, stage=stage)
        if mode == "refuse":
            return self._refusal_response(response, records, refusal, streaming_async=asynchronous)
        if isinstance(target, BaseQueryEngine):
            answer: Any = yield Call(target.query, target.aquery, (query_bundle,))
        else:
            content = query_bundle.query_str if response is None else _response_content(response)
            blocked = Blocked(verdict, UnsafeContentError(verdict, stage).stage, content, refusal)
            answer = yield Call(call_reroute, acall_reroute, (target, blocked))
        return _with_records(_as_response(answer), records)

    # -- shared, no I/O -------------------------------------------------------------------

    def _refusal_response(
        self,
        response: RESPONSE_TYPE | None,
        records: Records,
        refusal: str,
        *,
        streaming_async: bool,
    ) -> RESPONSE_TYPE:
        # An unsafe answer keeps its sources (they explain what was retrieved); a blocked
        # question has none, since retrieval never ran.
        sources = list(response.source_nodes) if response is not None else []
        metadata = dict(response.metadata or {}) if response is not None else {}
        metadata[METADATA_KEY] = dict(records)
        streaming = self._streaming or isinstance(
            response, StreamingResponse | AsyncStreamingResponse
        )
        if not streaming:
            return Response(refusal, sources, metadata)
        if streaming_async:
            return AsyncStreamingResponse(_agen_once(refusal), sources, metadata)
        return StreamingResponse(_gen_once(refusal), sources, metadata)

    def _moderated_stream(
        self, question: str, response: StreamingResponse | AsyncStreamingResponse, records: Records
    ) -> StreamingResponse | AsyncStreamingResponse:
        """The same kind of streaming response, releasing only judged text."""
        metadata = _metadata_with(response, records)
        how = TokenModeration(self._guard, [{"role": "user", "content": question}],
                              self._stream_on_unsafe(), self._refusal, metadata[METADATA_KEY],
                              self._window)  # fmt: skip
        sources = list(response.source_nodes)
        if isinstance(response, StreamingResponse):
            return StreamingResponse(moderate_tokens(response.response_gen, how), sources, metadata)
        tokens = amoderate_tokens(response.async_response_gen(), how)
        return AsyncStreamingResponse(tokens, sources, metadata)

    def _stream_on_unsafe(self) -> str:
        # Once text has streamed, rerouting cannot take it back: a stream that turns unsafe
        # raises under "raise" and ends with the refusal otherwise.
        return "raise" if self._action.mode == "raise" else "refuse"


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


def _metadata_with(response: RESPONSE_TYPE, records: Records) -> dict[str, Any]:
    metadata = dict(response.metadata or {})
    metadata[METADATA_KEY] = dict(records)
    return metadata


def _with_records(response: RESPONSE_TYPE, records: Records) -> RESPONSE_TYPE:
    response.metadata = _metadata_with(response, records)
    return response


def _gen_once(text: str) -> Generator[str, None, None]:
    yield text


async def _agen_once(text: str) -> AsyncGenerator[str, None]:
    yield text
