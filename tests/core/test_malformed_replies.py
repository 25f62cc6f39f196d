"""Malformed 200 replies through the real clients (the ``together`` SDK, httpx): every one is a
``malformed`` backend error the error policy decides, never a raw ``KeyError``/``TypeError``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llamashield import LlamaGuard, VerdictParseError
from llamashield.backends import OpenAICompatibleBackend
from llamashield.backends._base import BackendAnswer, GuardRequest
from llamashield.backends.simulated import SimulatedBackend
from tests._support.raw_http import RawServer, by_endpoint

pytest.importorskip("together")

NAN = float("nan")


def _logprobs(value: Any) -> dict[str, Any]:
    return {"tokens": ["safe"], "token_logprobs": [value], "top_logprobs": [{"safe": value}]}


def _choice(chat: bool, **extra: Any) -> dict[str, Any]:
    base = {"message": {"role": "assistant", "content": "safe"}} if chat else {"text": "safe"}
    return {"index": 0, "finish_reason": "stop", **base, **extra}


def _body(chat: bool, choices: Any) -> bytes:
    kind = "chat.completion" if chat else "text_completion"
    envelope = {"id": "x", "object": kind, "created": 0, "model": "m", "choices": choices}
    return json.dumps(envelope).encode()


# Each: (name, body given chat=True/False). All are 200 replies with the JSON content type.
REPLIES: list[tuple[str, Callable[[bool], bytes]]] = [
    ("choices_as_dict", lambda chat: _body(chat, {"0": _choice(chat)})),
    ("choices_as_str", lambda chat: _body(chat, "safe")),
    ("choices_empty", lambda chat: _body(chat, [])),
    ("choice_is_a_number", lambda chat: _body(chat, [3])),
    ("text_is_a_list", lambda chat: _body(chat, [{"index": 0, "text": ["safe"],
                                                  "message": {"content": ["safe"]}}])),
    ("logprob_none", lambda chat: _body(chat, [_choice(chat, logprobs=_logprobs(None))])),
    ("logprob_abc", lambda chat: _body(chat, [_choice(chat, logprobs=_logprobs("abc"))])),
    ("logprob_nan", lambda chat: _body(chat, [_choice(chat, logprobs=_logprobs(NAN))])),
    ("logprob_positive", lambda chat: _body(chat, [_choice(chat, logprobs=_logprobs(3.0))])),
    ("not_json", lambda chat: b"<html>502 Bad Gateway</html>"),
    ("truncated_json", lambda chat: _body(chat, [_choice(chat)])[:40]),
    ("json_null", lambda chat: b"null"),
    ("json_list", lambda chat: b"[1, 2]"),
]  # fmt: skip


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawServer]:
    with RawServer(lambda request: (200, b"")) as server:
        yield server


def _backends(port: int) -> list[Any]:
    from llamashield.backends import TogetherBackend

    url = f"http://127.0.0.1:{port}"
    model = "meta-llama/LlamaGuard-2-8b"
    return [
        TogetherBackend(model, api_key="k", base_url=f"{url}/v1", logprobs=True),
        OpenAICompatibleBackend(url, model),
        OpenAICompatibleBackend(url, model, mode="chat"),
    ]


@pytest.mark.parametrize(("name", "reply"), REPLIES, ids=[r[0] for r in REPLIES])
async def test_malformed_replies_are_decided_by_the_error_policy(
    raw_server: RawServer, name: str, reply: Callable[[bool], bytes]
) -> None:
    raw_server.reply = by_endpoint(reply)
    for backend in _backends(raw_server.port):
        breaker_free: dict[str, Any] = {"circuit_breaker": None, "max_retries": 0}
        blocked = LlamaGuard(backend, **breaker_free).check("hello")
        assert not blocked.safe and blocked.error, (backend, blocked)
        assert (await LlamaGuard(backend, **breaker_free).acheck("hello")).error
        allowed = LlamaGuard(backend, on_error="allow", **breaker_free).check("hello")
        assert allowed.safe and allowed.error
        with pytest.raises(VerdictParseError):
            LlamaGuard(backend, on_error="raise", **breaker_free).check("hello")


class _Broken(SimulatedBackend):
    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return self.answer  # type: ignore[no-any-return]

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return self.answer  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "answer",
    [
        BackendAnswer("safe", 1.5),
        BackendAnswer("safe", -0.1),
        BackendAnswer("safe", NAN),
        BackendAnswer("safe", "0.5"),  # type: ignore[arg-type]
        BackendAnswer(None),  # type: ignore[arg-type]
        BackendAnswer("safe", None, 3),  # type: ignore[arg-type]
        "safe",
        None,
    ],
    ids=repr,
)
async def test_a_backend_breaking_the_answer_contract_fails_closed(answer: Any) -> None:
    assert not LlamaGuard(_Broken(answer)).check("hello").safe
    assert (await LlamaGuard(_Broken(answer)).acheck("hello")).error
    assert LlamaGuard(_Broken(answer), on_error="allow").check("hello").safe
    with pytest.raises(VerdictParseError, match="backend"):
        LlamaGuard(_Broken(answer), on_error="raise").check("hello")
