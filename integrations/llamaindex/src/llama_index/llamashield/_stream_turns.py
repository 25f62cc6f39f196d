"""A streamed chat turn that is taken back out of memory unless its answer was judged to the end.

A LlamaIndex chat engine's ``stream_chat``/``astream_chat`` writes the turn to memory from a
writer of its own (a thread, or a task) that reads the model's whole stream whatever the
consumer does; the guarded stream only releases what was judged. A consumer that stops reading
(breaks out of ``response_gen``, closes it, or never reads at all) leaves an answer whose
unreleased part was never judged: the writer still puts all of it in memory, where the next
turn's model would read it.

So each guarded stream is a ``StreamTurn``, settled exactly once: when its moderated stream ends
or is closed, and at the latest when the guarded engine is used again (the next turn, its
history, a reset). Settling waits for the writer to finish (it cannot be stopped without a
window in which it still writes; sync code cancels an async writer it cannot wait for, and
takes back an answer that still arrives) and then, unless the whole answer was judged safe,
restores the memory to what it was before the turn: the turn was not answered.
``GuardedStreamingResponse`` closes the moderated stream as soon as the consumer stops reading
its ``response_gen`` (or ``async_response_gen``), so the memory is settled then and not only at
the next turn.

Example::

    turn = StreamTurn(inner_engine, before, record, inner_response)
    ...                       # the moderated stream runs; record["output"] gets its verdict
    turn.settle()             # idempotent; restores the memory unless judged safe to the end
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.chat_engine.types import BaseChatEngine, StreamingAgentChatResponse
from llama_index.llamashield._compat import memory_of

__all__ = ["GuardedStreamingResponse", "StreamTurn"]


class StreamTurn:
    """One guarded stream's effect on the inner engine's memory, settled once."""

    def __init__(
        self,
        engine: BaseChatEngine,
        before: list[ChatMessage],
        record: dict[str, Any],
        inner: StreamingAgentChatResponse,
    ) -> None:
        self._engine = engine
        self._before = before
        self._record = record  # the moderation's: "output" holds the final verdict, if any
        self._inner = inner
        self._lock = threading.Lock()
        self.settled = False

    @property
    def judged_safe(self) -> bool:
        """Whether the whole answer was judged, and safe: the moderation records the final
        verdict only once its stream has run to the end."""
        verdict = self._record.get("output")
        return verdict is not None and bool(verdict["safe"])

    def settle(self) -> None:
        """Wait for the inner writer (a thread), and take the turn back out unless it was
        judged safe to the end.

        An async writer cannot be waited for from sync code: it is cancelled instead, and if
        it still gets its answer into memory (cancelled mid-write), that answer is taken back
        out when it finishes. ``asettle`` waits for it, which leaves no such window.
        """
        with self._lock:
            if self.settled:
                return
            if not self.judged_safe:  # (judged safe: the writer has written, let it finish)
                thread = self._inner.write_response_to_history_thread
                if thread is not None and thread is not threading.current_thread():
                    thread.join()  # a thread cannot be stopped: what it writes is undone below
                task = self._inner.awrite_response_to_history_task
                if task is not None and not task.done():
                    task.cancel()
                    task.add_done_callback(self._take_back_late_answer)
                self._restore()
            self.settled = True

    async def asettle(self) -> None:
        """``settle`` from async code: the writer, thread or task, is waited for first (off the
        event loop), so that nothing it writes comes after the memory is restored."""
        if not self.settled and not self.judged_safe:
            thread = self._inner.write_response_to_history_thread
            if thread is not None:
                await asyncio.to_thread(thread.join)
            task = self._inner.awrite_response_to_history_task
            if task is not None and task is not asyncio.current_task():
                await asyncio.gather(task, return_exceptions=True)
        self.settle()

    def _restore(self) -> None:
        memory = memory_of(self._engine)
        if memory is not None:
            memory.set(self._before)

    def _take_back_late_answer(self, task: asyncio.Task[Any]) -> None:
        # The writer's answer is the last message it put in memory, if it got that far.
        memory = memory_of(self._engine)
        answer = self._inner.response
        if memory is None or not answer:
            return
        messages = memory.get_all()
        if messages and messages[-1].role == "assistant" and messages[-1].content == answer:
            memory.set(messages[:-1])


@dataclass
class GuardedStreamingResponse(StreamingAgentChatResponse):
    """A relayed stream whose moderated source is closed as soon as the consumer stops reading
    (a break out of ``response_gen``, closing it, or an exception): LlamaIndex's own response
    leaves it suspended, with the inner writer putting the unjudged rest in memory. Its
    ``turn`` is settled then (not only at the next turn)."""

    turn: StreamTurn | None = None

    @classmethod
    def relaying(
        cls,
        chunks: Iterator[ChatResponse] | AsyncIterator[ChatResponse],
        inner: StreamingAgentChatResponse | None = None,
        turn: StreamTurn | None = None,
    ) -> GuardedStreamingResponse:
        """Relay ``chunks`` (sync or async: read with ``response_gen`` or
        ``async_response_gen``) with the inner response's sources; the inner response writes
        its own memory, this one does not."""
        key = "achat_stream" if isinstance(chunks, AsyncIterator) else "chat_stream"
        stream: dict[str, Any] = {key: chunks}
        return cls(
            **stream,
            sources=inner.sources if inner is not None else [],
            source_nodes=inner.source_nodes if inner is not None else [],
            is_writing_to_memory=False,
            turn=turn,
        )

    @property
    def response_gen(self) -> Generator[str, None, None]:
        try:
            yield from super().response_gen
        finally:
            if self.chat_stream is not None:
                self.chat_stream.close()
            if self.turn is not None:
                # Closing the moderated stream closed the inner one, which waited for its
                # memory writer: only now can an answer not judged to the end be taken back.
                self.turn.settle()

    async def async_response_gen(self) -> AsyncGenerator[str, None]:
        try:
            async for token in super().async_response_gen():
                yield token
        finally:
            if self.achat_stream is not None:
                await self.achat_stream.aclose()
            if self.turn is not None:
                await self.turn.asettle()
