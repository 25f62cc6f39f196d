"""Turn HTTP failures into ``BackendError``s that say what to do next, and never a credential
(the API key, or a user, password or query value of the base URL: see ``_redact``)."""

from __future__ import annotations

import email.utils
import re
import time
import urllib.parse
from collections.abc import Mapping

from llamashield._redact import redact
from llamashield.backends._base import BackendError

SERVED_GUARD_MODELS = "meta-llama/Llama-Guard-4-12B"
# How servers word a 404 for a path they do not have (FastAPI/vLLM, the loopback server, nginx).
_NO_ROUTE = re.compile(r"\bnot found\b|no route|unknown (?:url|path|endpoint)", re.I)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped at 60."""
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:  # an HTTP date; anything else (Python 3.10+ raises for it) asks for no wait
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 60.0)


def status_error(
    status: int,
    detail: str,
    *,
    model: str,
    service: str,
    key_hint: str,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    url: str | None = None,
) -> BackendError:
    """A ``BackendError`` for an HTTP status, with the next step spelled out.

    ``url`` is where the request went: a 404 says it, and tells a missing model (the server
    names the model; it may be retired) from a wrong address (``/v1/v1/...``, a path the server
    does not have).
    """
    detail = redact(detail.strip(), [secret])[:300]
    url = _safe_url(url, secret)
    if status == 401:
        message = f"{service} rejected the API key (401): {key_hint}"
    elif status == 403:
        message = f"{service} refused access to {model!r} (403): check the key's permissions"
    elif status == 404:
        message = _not_found(detail, model=model, service=service, url=url)
    elif status == 429:
        message = f"{service} rate limit hit (429)"
    elif status >= 500:
        message = f"{service} server error ({status})"
    else:
        message = f"{service} rejected the request ({status})"
    if detail:
        message += f": {detail}"
    retryable = status in (408, 409, 429) or status >= 500
    return BackendError(
        redact(message, [secret]),
        retryable=retryable,
        status_code=status,
        retry_after=parse_retry_after(headers),
        kind="http",
    )


def _safe_url(url: str | None, secret: str | None) -> str | None:
    """The URL without user:password or query (neither helps the reader; either may be secret)."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return redact(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")), [secret])


def _not_found(detail: str, *, model: str, service: str, url: str | None) -> str:
    where = f"POST {url}" if url else "the request"
    retired = (
        f"it may have been retired (from serverless, on Together): pick a Llama Guard model "
        f"the service lists, e.g. {SERVED_GUARD_MODELS!r}"
    )
    wrong_address = url is not None and "/v1/v1/" in url
    names_model = model.casefold() in detail.casefold() or "model" in detail.casefold()
    if not wrong_address and names_model:
        return f"{service} does not serve model {model!r} (404 for {where}); {retired}"
    if wrong_address or _NO_ROUTE.search(detail):
        message = f"{service} has no endpoint at {where} (404; model {model!r}): check base_url"
        if wrong_address:
            message += " (it ends in /v1, and the client appends /v1/... itself: drop the /v1)"
        return message
    return (
        f"{service} answered 404 for {where} (model {model!r}): either base_url is wrong, or "
        f"the model is not served and {retired}"
    )


def connection_error(
    service: str, exc: BaseException, *, timed_out: bool, secret: str | None = None
) -> BackendError:
    """A retryable error naming the exception's type only: its text may quote the URL."""
    if timed_out:
        message = f"{service} did not answer in time"
        return BackendError(redact(message, [secret]), retryable=True, kind="timeout")
    message = f"could not reach {service}: {type(exc).__name__}"
    return BackendError(redact(message, [secret]), retryable=True, kind="connection")
