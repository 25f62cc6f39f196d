"""Fetching Meta's pinned wheels from PyPI for the reference tests: the one case they skip is an
index out of reach, told apart from any other pip failure by what pip says."""

from __future__ import annotations

# pip's words when the index cannot be reached at all.
_UNREACHABLE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
    "Could not fetch URL",
    "connection refused",
)


def said_unreachable(pip_output: str) -> bool:
    """Whether pip's output says the package index could not be reached."""
    lowered = pip_output.lower()
    return any(marker.lower() in lowered for marker in _UNREACHABLE)
