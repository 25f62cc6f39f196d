"""Turn HTTP failures into ``BackendError``s that say what to do next, and never the key."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from llamashield.backends._base import BackendError

SERVED_GUARD_MODELS = "meta-llama/Llama-Guard-4-12B"


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
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return min(max(seconds, 0.0), 60.0)


def redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def status_error(
    status: int,
    detail: str,
    *,
    model: str,
    service: str,
    key_hint: str,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> BackendError:
    """A ``BackendError`` for an HTTP status, with the next step spelled out."""
    detail = redact(detail.strip(), secret)[:300]
    if status == 401:
        message = f"{service} rejected the API key (401): {key_hint}"
    elif status == 403:
        message = f"{service} refused access to {model!r} (403): check the key's permissions"
    elif status == 404:
        message = (
            f"{service} does not serve model {model!r} (404); it may have been retired. "
            f"Pick a Llama Guard model the service lists, e.g. {SERVED_GUARD_MODELS!r}"
        )
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
        message,
        retryable=retryable,
        status_code=status,
        retry_after=parse_retry_after(headers),
        kind=f"http_{status}",
    )


def connection_error(service: str, exc: BaseException, *, timed_out: bool) -> BackendError:
    if timed_out:
        return BackendError(f"{service} did not answer in time", retryable=True, kind="timeout")
    return BackendError(
        f"could not reach {service}: {type(exc).__name__}", retryable=True, kind="connection"
    )
