"""Bad requests get OpenAI's error shape and the right status; nothing the user sent is logged."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.serve_support import KEY, Serve

openai = pytest.importorskip("openai")  # the client nobody here wrote

SECRET = "zebra-quartz-7781"  # what the "user" sends; must never reach a log record
AUTH = {"Authorization": f"Bearer {KEY}"}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"} and body["message"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b"{}", "input", "'input' is required"),
        (b'{"input": 42}', "input", "string or a non-empty list"),
        (b'{"input": []}', "input", "string or a non-empty list"),
        (b'{"input": ["a", {"type": "text", "text": "b"}]}', "input", "not a mix"),
        (b'{"input": [{"type": "audio", "data": "x"}]}', "input", "input[0] must be"),
        (b'{"input": [{"type": "image_url", "image_url": "u"}]}', "input", "input[0] must be"),
        (b'{"input": "hi", "model": 7}', "model", "invalid value for 'model'"),
    ],
)
def test_wrong_types_are_400(serve: Serve, body: bytes, param: str | None, words: str) -> None:
    running = serve()
    error = _error(httpx.post(f"{running.url}/v1/moderations", content=body, headers=AUTH), 400)
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_llamaguard_check_needs_messages(serve: Serve) -> None:
    running = serve()
    bodies: list[dict[str, Any]] = [{}, {"messages": "hi"}, {"messages": []}]
    for body in bodies:
        response = httpx.post(f"{running.url}/v1/llamaguard/check", json=body, headers=AUTH)
        assert _error(response, 400)["param"] == "messages"
    bad_role = {"messages": [{"role": "wizard", "content": "hi"}]}
    response = httpx.post(f"{running.url}/v1/llamaguard/check", json=bad_role, headers=AUTH)
    error = _error(response, 400)
    assert "role" in error["message"] and error["param"] == "messages"


def test_too_many_inputs_in_one_request_is_400(serve: Serve) -> None:
    running = serve(max_batch=3)
    client = running.openai(max_retries=0)
    assert len(client.moderations.create(input=["a", "b", "c"]).results) == 3
    with pytest.raises(openai.BadRequestError, match="at most 3"):
        client.moderations.create(input=["a", "b", "c", "d"])


def test_oversized_body_is_413_declared_or_chunked(serve: Serve) -> None:
    running = serve(max_body_bytes=4096)
    big = json.dumps({"input": "x" * 5000}).encode()
    error = _error(httpx.post(f"{running.url}/v1/moderations", content=big, headers=AUTH), 413)
    assert "4096 bytes" in error["message"]

    def chunked() -> Any:  # no Content-Length: the server counts as it reads
        yield big[:3000]
        yield big[3000:]

    response = httpx.post(f"{running.url}/v1/moderations", content=chunked(), headers=AUTH)
    _error(response, 413)
    assert running.guard_server.count("/chat/completions") == 0  # never judged


def test_missing_and_wrong_keys_are_401(serve: Serve) -> None:
    running = serve()
    missing = _error(httpx.post(f"{running.url}/v1/moderations", json={"input": "hi"}), 401)
    assert "Authorization: Bearer" in missing["message"]
    with pytest.raises(openai.AuthenticationError) as caught:
        running.openai(key="sk-wrong", max_retries=0).moderations.create(input="hi")
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
    basic = {"Authorization": f"Basic {KEY}"}
    _error(httpx.post(f"{running.url}/v1/moderations", json={"input": "hi"}, headers=basic), 401)
    assert running.guard_server.count() == 0
    # health and metrics answer without a key (load balancers and scrapers)
    assert httpx.get(f"{running.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{running.url}/metrics").status_code == 200


def test_past_the_concurrency_limit_is_429_and_the_first_request_still_answers(
    serve: Serve,
) -> None:
    running = serve(max_concurrency=1, latency=1.0)
    first: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: first.update(r=running.openai().moderations.create(input="hi"))
    )
    slow.start()
    while running.service.in_flight < 1:  # the first request is being judged
        time.sleep(0.01)
    with pytest.raises(openai.RateLimitError) as caught:
        running.openai(max_retries=0).moderations.create(input="hello")
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    slow.join(30)
    assert not first["r"].results[0].flagged
    assert running.service.in_flight == 0


def test_a_body_that_never_arrives_is_cut_off_at_the_deadline(serve: Serve) -> None:
    running = serve(deadline=0.5)
    with socket.create_connection((running.server.host, running.server.port)) as sock:
        sock.sendall(
            f"POST /v1/moderations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"input": '.encode()
        )
        sock.settimeout(30)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504")
    assert json.loads(body)["error"]["code"] == "timeout"


def test_guard_unavailable_under_on_error_raise_is_503(serve: Serve) -> None:
    running = serve(policy={"on_error": "raise", "max_retries": 0})
    running.guard_server.inject("status", status=500, times=None)
    with pytest.raises(openai.InternalServerError) as caught:
        running.openai(max_retries=0).moderations.create(input="hi")
    assert caught.value.status_code == 503 and caught.value.body["code"] == "guard_unavailable"


def test_guard_failure_under_the_default_policy_is_flagged_with_the_error(serve: Serve) -> None:
    running = serve(policy={"max_retries": 0})
    running.guard_server.inject("status", status=500, times=None)
    (result,) = running.openai().moderations.create(input="hi").results
    assert result.flagged and result.model_extra["llama_guard"]["error"]


def test_nothing_the_user_sent_is_logged(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running = serve(max_body_bytes=4096, max_batch=2)
    client = running.openai(max_retries=0)
    client.moderations.create(input=f"{SECRET} how do I build a bomb?")
    client.moderations.create(input=[f"{SECRET} hello", f"{SECRET} I want to end my life"])
    url, send = f"{running.url}/v1", httpx.post
    send(f"{url}/llamaguard/check", headers=AUTH,
         json={"messages": [{"role": "user", "content": SECRET}]})  # fmt: skip
    bad = [
        f'{{"input": "{SECRET}"'.encode(),  # not JSON
        json.dumps({"input": [SECRET, SECRET, SECRET]}).encode(),  # too many
        json.dumps({"input": SECRET, "model": SECRET}).encode(),  # unknown model
        json.dumps({"input": [{"type": SECRET}]}).encode(),  # wrong part
        json.dumps({"input": SECRET * 1000}).encode(),  # too large
        json.dumps({"messages": [{"role": SECRET, "content": SECRET}]}).encode(),
    ]
    for body in bad:
        send(f"{url}/moderations", content=body, headers=AUTH)
        send(f"{url}/llamaguard/check", content=body, headers=AUTH)
    send(
        f"{url}/moderations", json={"input": SECRET}, headers={"Authorization": f"Bearer {SECRET}"}
    )
    running.guard_server.inject("status", status=500, times=None)
    client.moderations.create(input=f"{SECRET} while the guard fails")
    records = [r for r in caplog.records if r.name.startswith("llamashield.serve")]
    assert len(records) >= 2 + 1 + 2 * len(bad)  # each request logged its line
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + str(record.args)
        assert SECRET not in text, record.name


def test_metrics_count_requests_by_endpoint_and_status(serve: Serve) -> None:
    running = serve()
    client = running.openai(max_retries=0)
    client.moderations.create(input=["How do I build a bomb?", "hello", "hi"])
    with pytest.raises(openai.BadRequestError):
        client.moderations.create(input="x", model="nope")
    httpx.post(f"{running.url}/v1/moderations", json={"input": "x"})  # no key
    families = {
        f.name: f for f in text_string_to_metric_families(httpx.get(f"{running.url}/metrics").text)
    }
    requests = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["llamashield_serve_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests == {("moderations", "200"): 1, ("moderations", "400"): 1,
                        ("moderations", "401"): 1}  # fmt: skip
    inputs = {
        s.labels["outcome"]: s.value
        for s in families["llamashield_serve_inputs"].samples
        if s.name.endswith("_total")
    }
    assert inputs == {"flagged": 1, "safe": 2}
