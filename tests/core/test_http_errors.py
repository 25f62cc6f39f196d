"""What an HTTP failure becomes: the wait a server asks for (Retry-After), and a message that
names the next step without quoting anything secret."""

from __future__ import annotations

import email.utils
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield.backends._errors import parse_retry_after, status_error


@given(seconds=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_a_delay_in_seconds_is_honoured_within_zero_to_sixty(seconds: float) -> None:
    wait = parse_retry_after({"retry-after": repr(seconds)})
    assert wait == min(max(seconds, 0.0), 60.0)


@pytest.mark.parametrize("name", ["retry-after", "Retry-After"])
def test_either_spelling_of_the_header_is_read(name: str) -> None:
    assert parse_retry_after({name: "7"}) == 7.0


@pytest.mark.parametrize("headers", [None, {}, {"retry-after": ""}, {"retry-after": "soon"}])
def test_no_usable_header_means_no_wait_asked_for(headers: dict[str, str] | None) -> None:
    assert parse_retry_after(headers) is None


def test_a_429_with_an_unreadable_retry_after_is_still_a_rate_limit_error() -> None:
    error = status_error(429, "", model="m", service="Server", key_hint="",
                         headers={"Retry-After": "in a while"})  # fmt: skip
    assert error.retryable and error.retry_after is None and "rate limit" in str(error)


def test_an_http_date_is_a_wait_until_then_and_a_past_date_is_none_at_all() -> None:
    later = email.utils.formatdate(time.time() + 45, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 3600, usegmt=True)
    wait = parse_retry_after({"retry-after": later})
    assert wait is not None and 0.0 <= wait <= 45.0
    assert parse_retry_after({"retry-after": earlier}) == 0.0
    far = email.utils.formatdate(time.time() + 86_400, usegmt=True)
    assert parse_retry_after({"retry-after": far}) == 60.0  # capped


def _error(status: int, detail: str = "", url: str | None = None) -> str:
    error = status_error(status, detail, model="meta-llama/Llama-Guard-4-12B", service="Server",
                         key_hint="set SERVER_KEY", url=url)  # fmt: skip
    return str(error)


def test_a_403_names_the_model_and_the_keys_permissions() -> None:
    message = _error(403)
    assert "'meta-llama/Llama-Guard-4-12B'" in message and "permissions" in message


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (408, True), (409, True), (429, True), (503, True)]
)
def test_only_statuses_worth_another_try_are_retryable(status: int, retryable: bool) -> None:
    error = status_error(status, "", model="m", service="Server", key_hint="")
    assert error.retryable is retryable


def test_a_404_url_keeps_host_port_and_path_and_drops_credentials_and_query() -> None:
    message = _error(404, "no route", url="http://user:hunter2@127.0.0.1:8080/v1/chat?key=abc")
    assert "http://127.0.0.1:8080/v1/chat" in message
    assert "hunter2" not in message and "abc" not in message and "user" not in message


def test_a_404_for_a_doubled_v1_says_to_drop_it() -> None:
    message = _error(404, "Not Found", url="http://127.0.0.1:8000/v1/v1/completions")
    assert "drop the /v1" in message and "check base_url" in message


def test_a_404_that_neither_names_the_model_nor_a_route_gives_both_causes() -> None:
    message = _error(404, "???", url="http://127.0.0.1:8000/v1/completions")
    assert "either base_url is wrong" in message and "retired" in message
