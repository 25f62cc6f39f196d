"""Issue 20 item 11: "Credentials in base_url (https://user:pass@host, ?key=) appear in
repr(guard) and in Verdict.error. Redact them everywhere." Still so for
OpenAICompatibleBackend: repr(guard) and the unreachable-server error carry the password and
the query key (logs, traces and verdict metadata sent to clients then leak them)."""

from __future__ import annotations

from llamashield import LlamaGuard
from llamashield.backends import OpenAICompatibleBackend

URL = "http://user:pa55word@127.0.0.1:9/v1?api_key=sekret"


def test_credentials_never_appear_in_repr_or_errors() -> None:
    guard = LlamaGuard(
        OpenAICompatibleBackend(URL, "meta-llama/LlamaGuard-2-8b"),
        timeout=1,
        max_retries=0,
        circuit_breaker=None,
    )
    verdict = guard.check("hi")
    assert verdict.error  # port 9: nothing listens
    for text in (repr(guard), verdict.error):
        assert "pa55word" not in text and "sekret" not in text, text
