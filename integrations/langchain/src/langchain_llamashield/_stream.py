"""LangChain glue shared by the guarded runnables and chat model: traced checks, moderated
chunk streams, and what a stream yields once blocked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from langchain_llamashield._inputs import output_text
from langchain_llamashield._on_unsafe import UnsafePolicy
from langchain_llamashield._watch import observed
from llamashield.streaming import WindowSpec

if TYPE_CHECKING:
    from llamashield import LlamaGuard, Verdict

__all__ = [
    "Judge",
    "StreamOptions",
    "UnsafeStream",
    "amerge_input",
    "chunk_example",
    "judge",
    "merge_input",
    "moderation",
]


class Judge:
    """The guard's check of a whole conversation, traced: each verdict shows up in traces as a
    "LlamaGuard" run with the judged conversation as input and the ``Verdict`` as output.

    Every message that came from outside is judged (``LlamaGuard.check_conversation``); with
    ``answer=True`` the last message is the guarded model's own answer and the messages before
    it were judged as this call's input, so only the answer is new.

    A run costs about four times an instant check (callback manager, run ids, signature
    inspection on every call), so it is made only when a handler would see it (``observed``);
    otherwise the guard is called directly. The verdict and errors are the same either way.
    """

    __slots__ = ("_answer", "_guard")

    def __init__(self, guard: LlamaGuard, *, answer: bool = False) -> None:
        self._guard = guard
        self._answer = answer

    def _trusted(self, conversation: Any) -> range:
        if not self._answer or not isinstance(conversation, Sequence):
            return range(0)
        return range(len(conversation) - 1)

    def _check(self, conversation: Any) -> Verdict:
        return self._guard.check_conversation(conversation, trusted=self._trusted(conversation))

    async def _acheck(self, conversation: Any) -> Verdict:
        trusted = self._trusted(conversation)
        return await self._guard.acheck_conversation(conversation, trusted=trusted)

    def _traced(self) -> Runnable[Any, Verdict]:
        return RunnableLambda(self._check, afunc=self._acheck, name="LlamaGuard")

    def invoke(self, conversation: Any, config: RunnableConfig | None = None) -> Verdict:
        if observed(config):
            return self._traced().invoke(conversation, config)
        return self._check(conversation)

    async def ainvoke(self, conversation: Any, config: RunnableConfig | None = None) -> Verdict:
        if observed(config):
            return await self._traced().ainvoke(conversation, config)
        return await self._acheck(conversation)


def judge(guard: LlamaGuard, *, answer: bool = False) -> Judge:
    """The guard's check, as a "LlamaGuard" run where anyone is watching (see ``Judge``)."""
    return Judge(guard, answer=answer)


def _chunk_text(key: str | None) -> Callable[[Any], str]:
    def text(chunk: Any) -> str:
        if key is not None and isinstance(chunk, Mapping):
            return output_text(chunk.get(key))  # a dict stream sends its keys in separate chunks
        return output_text(chunk)

    return text


class StreamOptions(TypedDict):
    """How a chunk stream is moderated: the keywords of ``moderate_stream``/``amoderate_stream``."""

    context: Sequence[Any]
    text: Callable[[Any], str]
    window: WindowSpec
    raise_on_unsafe: bool


def moderation(context: Sequence[Any], *, key: str | None, window: WindowSpec) -> StreamOptions:
    """Chunks released window by window once judged as the Agent turn after ``context``
    (``key`` picks a dict stream's text); blocked, the stream stops and reports it (no raise).

    ``moderate_stream(chunks, guard, **moderation(...))``, or ``amoderate_stream``: one set of
    options for the sync and async streams.
    """
    return StreamOptions(
        context=context, text=_chunk_text(key), window=window, raise_on_unsafe=False
    )


def chunk_example(example: Any) -> Any:
    """A stream chunk of ``example``'s type (a message becomes an ``AIMessageChunk``)."""
    if isinstance(example, BaseMessage) and not isinstance(example, AIMessageChunk):
        return AIMessageChunk(content="")
    return example


@dataclass(frozen=True, slots=True)
class UnsafeStream:
    """What a blocked stream yields: the fallback's stream, one refusal chunk, or it raises.

    Iterate it (``yield from``) in a sync stream, ``async for`` it in an async one: the choice
    between fallback and refusal is made once, in ``_step``; only the fallback's call differs.
    """

    policy: UnsafePolicy
    verdict: Verdict
    stage: str
    original: Any
    _: KW_ONLY
    example: Any
    config: RunnableConfig | None

    def _step(self) -> tuple[Runnable[Any, Any] | None, Any]:
        """The fallback and its payload, or ``None`` and the refusal chunk (or it raises)."""
        policy, verdict, stage = self.policy, self.verdict, self.stage
        if policy.fallback is not None:
            return policy.fallback, policy.payload(self.original, verdict, stage)
        return None, policy.outcome(verdict, stage, chunk_example(self.example))

    def __iter__(self) -> Iterator[Any]:
        fallback, value = self._step()
        if fallback is None:
            yield value
        else:
            yield from fallback.stream(value, self.config)

    async def __aiter__(self) -> AsyncIterator[Any]:
        fallback, value = self._step()
        if fallback is None:
            yield value
        else:
            async for chunk in fallback.astream(value, self.config):
                yield chunk


_NOTHING: Any = object()


def _add(total: Any, chunk: Any) -> Any:
    if total is _NOTHING:
        return chunk
    try:
        return total + chunk
    except TypeError:  # not addable: the last complete value wins, as in RunnableLambda
        return chunk


def merge_input(chunks: Iterator[Any]) -> Any:
    """The whole input of a ``transform`` call (its chunks added up)."""
    total = _NOTHING
    for chunk in chunks:
        total = _add(total, chunk)
    if total is _NOTHING:
        raise ValueError("the guarded runnable received an empty input stream")
    return total


async def amerge_input(chunks: AsyncIterator[Any]) -> Any:
    """Async ``merge_input``."""
    total = _NOTHING
    async for chunk in chunks:
        total = _add(total, chunk)
    if total is _NOTHING:
        raise ValueError("the guarded runnable received an empty input stream")
    return total
