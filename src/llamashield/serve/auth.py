"""Bearer-key authentication with keys stored hashed.

The service keeps only SHA-256 digests: a leaked config or memory dump shows no usable key.
Keys come from (all of them add up):

- ``api_key_hashes`` in the config file: ``sha256:<64 hex>`` (or bare hex) digests;
- ``api_keys_file``: one entry a line, ``sha256:<64 hex>`` or a plain key (hashed at start;
  a plain key may itself be hex, as ``openssl rand -hex 32`` makes); blank lines and ``#``
  comments are skipped;
- the environment: ``LLAMASHIELD_API_KEYS`` (plain keys, comma-separated, hashed at start) and
  ``LLAMASHIELD_API_KEY_HASHES`` (digests, comma-separated).

A presented key is hashed and compared with every stored digest by ``hmac.compare_digest``, so
neither the comparison nor which entry matched shows in the timing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from pathlib import Path

from llamashield._exceptions import ConfigurationError

__all__ = ["KeyStore", "hash_key"]

_HEX = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def hash_key(key: str) -> str:
    """The stored form of a key: ``sha256:`` and the hex digest of the key without surrounding
    whitespace (a header's key is read the same way); ``llamashield serve --hash-key`` prints it."""
    return "sha256:" + hashlib.sha256(key.strip().encode("utf-8")).hexdigest()


class KeyStore:
    """The digests of the keys this replica accepts."""

    def __init__(self, digests: Iterable[str]) -> None:
        self._digests = tuple(bytes.fromhex(_digest(d)) for d in digests)

    def __len__(self) -> int:
        return len(self._digests)

    @classmethod
    def load(cls, hashes: Iterable[str] = (), keys_file: Path | None = None) -> KeyStore:
        digests = list(hashes)
        if keys_file is not None:
            try:
                lines = keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read the API keys file {keys_file}: {exc.strerror}"
                ) from None
            digests += [_entry(line) for line in lines if line.strip() and not _comment(line)]
        digests += [hash_key(k) for k in _split(os.environ.get("LLAMASHIELD_API_KEYS", ""))]
        digests += _split(os.environ.get("LLAMASHIELD_API_KEY_HASHES", ""))
        return cls(digests)

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization: Bearer <key>`` header carries a known key."""
        if not authorization:
            return False
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        presented = hashlib.sha256(key.strip().encode("utf-8")).digest()
        found = False
        for digest in self._digests:  # every entry compared: no early exit to time
            found |= hmac.compare_digest(presented, digest)
        return found


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _entry(line: str) -> str:
    """A keys-file line: ``sha256:...`` is a digest; anything else is a plain key, hashed now."""
    text = line.strip()
    return text if text.lower().startswith("sha256:") else hash_key(text)


def _digest(value: str) -> str:
    match = _HEX.fullmatch(value.strip().lower())
    if match is None:
        # The value is not echoed: it may be a plain key put where a hash belongs.
        raise ConfigurationError(
            "an API key hash must be 'sha256:' and 64 hex digits (llamashield serve --hash-key "
            "KEY prints one); put plain keys in api_keys_file or LLAMASHIELD_API_KEYS"
        )
    return match.group(1)
