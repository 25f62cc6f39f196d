"""The loopback server speaks the protocol: the real SDKs and httpx as clients."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest

from llamashield.testing import Fault, LoopbackServer

together = pytest.importorskip("together")


def test_non_guard_models_echo_and_stream_through_the_sdk() -> None:
    with LoopbackServer(reply=["First answer.", "Second answer, a little longer."]) as server:
        client = together.Together(api_key="k", base_url=server.base_url)
        first = client.chat.completions.create(
            model="meta-llama/Llama-3-8b-chat-hf", messages=[{"role": "user", "content": "q"}]
        )
        assert first.choices[0].message.content == "First answer."
        stream = client.chat.completions.create(
            model="meta-llama/Llama-3-8b-chat-hf",
            messages=[{"role": "user", "content": "q"}],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == "Second answer, a little longer."


async def test_async_sdk_stream() -> None:
    with LoopbackServer() as server:
        client = together.AsyncTogether(api_key="k", base_url=server.base_url)
        stream = await client.chat.completions.create(
            model="some-chat-model", messages=[{"role": "user", "content": "ping"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces) == "You said: ping" and len(pieces) > 1


def test_api_key_is_enforced_when_set() -> None:
    with LoopbackServer(api_key="right") as server:
        response = httpx.post(
            f"{server.openai_base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": "Bearer wrong"},
        )
        assert response.status_code == 401


def test_bad_requests_get_400() -> None:
    with LoopbackServer() as server:
        url = f"{server.openai_base_url}/completions"
        assert httpx.post(url, content=b"not json").status_code == 400
        assert httpx.post(url, json={"model": "llama-guard", "prompt": "hi"}).status_code == 400
        assert httpx.post(url, json={"prompt": "hi"}).status_code == 400


def test_random_faults_follow_the_seed() -> None:
    mix = (Fault("status", status=503), Fault("status", status=500))

    def statuses() -> list[int]:
        with LoopbackServer(fault_rate=0.5, fault_mix=mix, seed=7) as server:
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            url = f"{server.openai_base_url}/chat/completions"
            return [httpx.post(url, json=body).status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 500, 503}


def test_counts_requests_by_path_and_model(loopback_server: LoopbackServer) -> None:
    loopback_server.guard().check("hi")
    loopback_server.openai_guard().check("hi")
    assert loopback_server.count("/v1/chat/completions", "LlamaGuard") == 1
    assert loopback_server.count("/v1/completions") == 1


def test_completions_take_a_batch_of_prompts(loopback_server: LoopbackServer) -> None:
    # LangChain's completion LLMs (NeMo Guardrails' vLLM engine among them) send a list.
    from llamashield import LlamaGuard
    from llamashield.backends import SimulatedBackend

    guard = LlamaGuard(SimulatedBackend())
    prompts = [guard.prepare(text).prompt for text in ("hello there", "how do I build a bomb")]
    body = {"model": "meta-llama/LlamaGuard-2-8b", "prompt": prompts}
    reply = httpx.post(f"{loopback_server.base_url}/v1/completions", json=body).json()
    texts = [choice["text"] for choice in sorted(reply["choices"], key=lambda c: c["index"])]
    assert texts[0] == "safe"
    assert texts[1].startswith("unsafe")
    assert len(texts) == 2
    bad = httpx.post(f"{loopback_server.base_url}/v1/completions", json={**body, "prompt": [1]})
    assert bad.status_code == 400


def test_a_connection_whose_handler_never_started_is_closed_at_stop() -> None:
    """A handler cancelled before its first step never runs its ``finally``, so only ``stop``
    can close that connection (left open, its writer warns ``ResourceWarning: loop is closed``
    when collected)."""
    server = LoopbackServer()
    accepted: list[Any] = []
    cancelled: list[asyncio.Task[None]] = []
    accept = server._accept

    def accept_then_cancel(reader: Any, writer: Any) -> Any:
        handler = accept(reader, writer)
        loop = asyncio.get_running_loop()

        def cancel() -> None:  # runs before the handler's first step, queued after this call
            (task,) = [t for t in asyncio.all_tasks(loop) if t.get_coro() is handler]
            task.cancel()
            cancelled.append(task)

        loop.call_soon(cancel)
        accepted.append(writer)
        return handler

    server._accept = accept_then_cancel  # type: ignore[method-assign]
    with server, socket.create_connection(("127.0.0.1", server.port)) as client:
        for _ in range(1000):
            if cancelled and cancelled[0].done():
                break
            time.sleep(0.01)
        assert cancelled and cancelled[0].cancelled()
        assert not accepted[0].transport.is_closing()  # nothing closed it yet
        server.stop()
        client.settimeout(10)
        assert client.recv(1) == b""  # closed by the server
    assert accepted[0].transport.is_closing()
