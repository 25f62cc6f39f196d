"""Keep credentials out of every text llamashield shows: reprs, errors, verdicts and logs.

A base URL may carry credentials (``https://user:pass@host``, ``?key=...``, ``?api_key=...``)
and so may an API key passed on its own. Backends ``register_secrets`` what they were given;
``redact`` then removes, from any text built from a backend or HTTP failure:

- every registered secret (4 characters or more, as given and percent-decoded/encoded),
- the user information and query values of every URL in the text (``scheme://***@host/path
  ?key=***``), registered or not,
- ``Bearer``/``Basic`` credentials and ``key=``/``token=``/``password=``-like assignments.

HTTP libraries log request URLs themselves (httpx at INFO, the ``together`` SDK at DEBUG):
their loggers get a filter that removes registered secrets from each record, so a URL's
credentials never reach a log handler either. Secrets are held in memory for the life of the
process, as the backends that use them are.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "redact", "redact_url", "register_secrets", "url_secrets"]

MASK = "***"
# Shorter strings are too common to replace in free text; URLs are redacted by shape anyway.
_MIN_SECRET = 4
# Loggers of the HTTP clients the backends use, which log request URLs.
_HTTP_LOGGERS = ("httpx", "together._base_client")

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
# An HTTP auth scheme and its credential: a word of prose after it ("the 2048-token context",
# "basic auth") is all lower-case letters, a credential is not.
_AUTH_SCHEME = re.compile(
    r"\b(Bearer|Basic|Token|bearer|basic|BEARER|BASIC)(\s+)"
    r"(?![a-z]+(?![A-Za-z0-9._~+/=-]))[A-Za-z0-9._~+/=-]{4,}"
)
_ASSIGNMENT = re.compile(
    r"\b((?:api[_-]?)?keys?|(?:access[_-]?|refresh[_-]?|id[_-]?)?tokens?|secrets?|"
    r"passw(?:or)?d|pwd|auth|authorization|signature|sig|credentials?)"
    r"(['\"]?\s*[=:]\s*)(['\"]?)([^\s&'\",;)]+)",
    re.IGNORECASE,
)

_secrets: frozenset[str] = frozenset()
_lock = threading.Lock()
_filter_installed = False


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: user, password, query values, fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return []
    found = [parts.username or "", parts.password or "", parts.fragment]
    for field in parts.query.split("&"):
        name, sep, value = field.partition("=")
        found.append(value if sep else name)
    return [f for f in found if f]


def register_secrets(*values: str | None) -> None:
    """Remember secrets so that ``redact`` and the HTTP loggers' filter remove them anywhere."""
    global _secrets
    new = set()
    for value in values:
        if not value:
            continue
        for form in (value, urllib.parse.unquote(value), urllib.parse.quote(value, safe="")):
            if len(form) >= _MIN_SECRET:
                new.add(form)
    if not new:
        return
    with _lock:
        _secrets = _secrets | new
    _install_log_filter()


def redact_url(url: str) -> str:
    """The URL without user information or query values: ``https://***@host/v1?key=***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK
    _, at, host = parts.netloc.rpartition("@")
    netloc = f"{MASK}@{host}" if at else host
    query = "&".join(
        f"{name}={MASK}" if sep else MASK
        for name, sep, _ in (field.partition("=") for field in parts.query.split("&") if field)
    )
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, query, MASK if parts.fragment else "")
    )


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without credentials: URLs, auth headers, ``key=`` assignments, every registered
    secret and the ``secrets`` given here (see the module's docstring)."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
    extra = {s for s in secrets if s and len(s) >= _MIN_SECRET}
    return _replace(text, _secrets | extra)


def _replace(text: str, secrets: Iterable[str]) -> str:
    # Longest first: a secret that contains another is removed whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class _SecretsFilter(logging.Filter):
    """Removes registered secrets from the records of an HTTP client's logger: the message and
    an attached traceback (httpx's errors quote the request URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report
            return True
        clean = _replace(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Handlers format the traceback from exc_text when it is set.
            record.exc_text = _replace(_FORMATTER.formatException(record.exc_info), secrets)
        if record.stack_info:
            record.stack_info = _replace(record.stack_info, secrets)
        return True


_FORMATTER = logging.Formatter()


def _install_log_filter() -> None:
    global _filter_installed
    with _lock:
        if _filter_installed:
            return
        _filter_installed = True
    for name in _HTTP_LOGGERS:
        logging.getLogger(name).addFilter(_SecretsFilter())
