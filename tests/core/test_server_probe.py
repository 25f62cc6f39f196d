"""What a local server is, learned by probing it at first use: Ollama, llama.cpp's
``llama-server``, llama-cpp-python, vLLM, or none of them, and the BOS a completions prompt needs.

The probe is a sans-I/O exchange; here it runs through the real sync and async drivers over
httpx's in-process ``MockTransport``, each test scripting what one kind of server answers (the
engine lanes run the same probe against the real servers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import ConfigurationError
from llamashield._prompts import BOS_TEXT
from llamashield.backends._exchange import Call, Exchange, adrive, drive, json_of
from llamashield.backends._served import Served, context_from_error, probe

ROOT = "http://server.test"
V1 = f"{ROOT}/v1"
Handler = Callable[[httpx.Request], httpx.Response]


def _probe_sync(handler: Handler, *, completions: bool = True, generation: int = 3) -> object:
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        exchange = probe(ROOT, V1, "guard", completions=completions, generation=generation)
        return drive(exchange, client, 5.0, "test server")


async def _probe_async(
    handler: Handler, *, completions: bool = True, generation: int = 3
) -> object:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        exchange = probe(ROOT, V1, "guard", completions=completions, generation=generation)
        return await adrive(exchange, client, 5.0, "test server")


Tokenize = Callable[[dict[str, object]], list[object]]


def _server(
    routes: Mapping[str, object], tokenize: Tokenize | None = None, seen: list[str] | None = None
) -> Handler:
    """A scripted server: ``routes`` maps ``METHOD /path`` to a JSON answer (404 elsewhere);
    ``tokenize`` answers the tokenizer endpoint from the request body."""

    def handle(request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        if seen is not None:
            seen.append(key)
        if request.method == "POST" and tokenize is not None:
            return httpx.Response(200, json={"tokens": tokenize(json.loads(request.content))})
        if key in routes:
            return httpx.Response(200, json=routes[key])
        return httpx.Response(404, text="not found")

    return handle


LLAMA_SERVER = {
    "GET /props": {"default_generation_settings": {"n_ctx": 4096}, "chat_template": "{{x}}",
                   "bos_token": "<|begin_of_text|>"},
    "GET /v1/models": {"data": [{"id": "guard", "owned_by": "llamacpp", "meta": {"n_ctx": 9}}]},
}  # fmt: skip


def test_an_ollama_server_is_known_by_its_version_endpoint() -> None:
    seen: list[str] = []
    served = _probe_sync(_server({"GET /api/version": {"version": "0.12.11"}}, seen=seen))
    assert served == Served(kind="ollama")
    assert seen == ["GET /api/version"]  # nothing else is asked of Ollama


def test_a_server_that_cannot_be_reached_is_probed_again_next_time() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert _probe_sync(refuse) is None


def test_llama_server_reports_its_slot_context_and_template_and_one_bos_needs_no_text() -> None:
    seen: list[str] = []
    served = _probe_sync(_server(LLAMA_SERVER, tokenize=lambda body: [1], seen=seen))
    assert isinstance(served, Served)
    assert (served.kind, served.context, served.chat_template) == ("llama.cpp", 4096, "{{x}}")
    assert served.bos_text == ""  # the server adds the one BOS itself
    assert seen[-1] == "POST /tokenize"


def test_a_gguf_that_adds_no_bos_gets_the_servers_own_bos_text_in_the_prompt() -> None:
    def tokenize(body: dict[str, object]) -> list[object]:
        return [{"id": 128000, "piece": body["content"]}] if body["content"] else []

    served = _probe_sync(_server(LLAMA_SERVER, tokenize=tokenize))
    assert isinstance(served, Served)
    assert served.bos_text == "<|begin_of_text|>"


def test_a_server_adding_two_special_tokens_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match=r"adds 2 special tokens.*add_bos_token"):
        _probe_sync(_server(LLAMA_SERVER, tokenize=lambda body: [1, 2]))


def test_a_server_that_neither_adds_nor_reads_a_bos_is_refused_with_the_fix() -> None:
    def tokenize(body: dict[str, object]) -> list[object]:
        return [] if not body["content"] else [60, 91, 7]  # BOS text spelled as plain text

    with pytest.raises(ConfigurationError, match=r"adds no BOS.*mode='chat'"):
        _probe_sync(_server(LLAMA_SERVER, tokenize=tokenize))


def test_vllm_is_known_by_max_model_len_and_tokenizes_with_the_model_named() -> None:
    bodies: list[dict[str, object]] = []

    def tokenize(body: dict[str, object]) -> list[object]:
        bodies.append(body)
        return [1]

    routes = {"GET /v1/models": {"data": [{"id": "guard", "max_model_len": 8192}]}}
    served = _probe_sync(_server(routes, tokenize=tokenize))
    assert isinstance(served, Served)
    assert (served.kind, served.context, served.bos_text) == ("vllm", 8192, "")
    assert bodies == [{"model": "guard", "prompt": ""}]


def test_llama_cpp_python_is_known_by_its_owner_and_reports_the_context_of_its_model() -> None:
    seen: list[str] = []
    routes = {"GET /v1/models": {"data": [{"id": "guard", "owned_by": "me",
                                           "meta": {"n_ctx": 2048}}]}}  # fmt: skip
    served = _probe_sync(_server(routes, tokenize=lambda body: [1], seen=seen))
    assert isinstance(served, Served)
    assert (served.kind, served.context) == ("llama-cpp-python", 2048)
    assert "POST /extras/tokenize" in seen


def test_an_unknown_server_is_assumed_to_add_one_bos_and_is_not_asked_to_tokenize() -> None:
    seen: list[str] = []
    served = _probe_sync(_server({}, seen=seen))
    assert served == Served()
    assert not any(key.startswith("POST") for key in seen)


def test_chat_mode_asks_nothing_about_bos() -> None:
    seen: list[str] = []
    served = _probe_sync(_server(LLAMA_SERVER, seen=seen), completions=False)
    assert isinstance(served, Served)
    assert served.kind == "llama.cpp" and served.bos_text == ""
    assert not any(key.startswith("POST") for key in seen)


def test_llama_guard_1_completions_start_with_its_own_bos_spelling() -> None:
    def tokenize(body: dict[str, object]) -> list[object]:
        return [] if not body["content"] else [1]

    routes = {"GET /props": {"default_generation_settings": {"n_ctx": 4096}}}
    served = _probe_sync(_server(routes, tokenize=tokenize), generation=1)
    assert isinstance(served, Served)
    assert served.bos_text == "<s>"
    assert BOS_TEXT != "<s>"  # the test tells the two spellings apart


@pytest.mark.parametrize(
    "routes",
    [
        {"GET /api/version": {"version": "0.13.0"}},
        LLAMA_SERVER,
        {"GET /v1/models": {"data": [{"id": "guard", "max_model_len": 4096}]}},
        {"GET /v1/models": {"data": []}},
        {"GET /props": {"default_generation_settings": "not a dict"}},
    ],
)
async def test_the_async_driver_learns_what_the_sync_one_does(routes: Mapping[str, object]) -> None:
    handler = _server(routes, tokenize=lambda body: [1])
    assert await _probe_async(handler) == _probe_sync(handler)


def test_a_failed_request_that_is_no_probe_ends_the_exchange_with_a_connection_error() -> None:
    closed: list[bool] = []

    def exchange() -> Exchange[str]:
        try:
            yield Call("GET", f"{ROOT}/api/version", probe=True)
            yield Call("POST", f"{V1}/completions", {"prompt": "x"})
        finally:
            closed.append(True)
        return "never"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with client, pytest.raises(Exception, match="test server") as raised:
        drive(exchange(), client, 5.0, "test server")
    assert not isinstance(raised.value, httpx.HTTPError)  # translated, not leaked
    assert closed == [True]


@pytest.mark.parametrize(
    "reply",
    [None, httpx.Response(500, json={"version": "x"}), httpx.Response(200, text="<html>")],
)
def test_json_of_reads_only_2xx_json(reply: httpx.Response | None) -> None:
    assert json_of(reply) is None


@given(
    context=st.integers(1, 10**7),
    template=st.sampled_from([
        "Requested tokens (9) exceed context window of {}",
        "request (9 tokens) exceeds the available context size ({} tokens), try increasing it",
        "input (9 tokens) is larger than the max context size ({} tokens). skipping",
        "This model's maximum context length is {} tokens. However, you requested more",
    ]),
    noise=st.text(st.characters(categories=("L", "Zs")), max_size=40),
)  # fmt: skip
def test_the_context_named_in_any_servers_error_is_read_back(
    context: int, template: str, noise: str
) -> None:
    assert context_from_error(noise + " " + template.format(context)) == context
