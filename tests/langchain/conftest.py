"""Fixtures for the LangChain tests: a guard over real HTTP and a scripted, counting chat model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard
from llamashield.testing import LoopbackServer


@pytest.fixture
def guard(loopback_server: LoopbackServer) -> LlamaGuard:
    """A guard on the loopback server: the real Together SDK over 127.0.0.1."""
    return loopback_server.guard()


@pytest.fixture
def scripted() -> Callable[..., ScriptedChatModel]:
    """Build a ``ScriptedChatModel``: ``scripted("The answer.", chunk_delay=0.01)``."""

    def build(answer: str = "Hello there.", **kwargs: Any) -> ScriptedChatModel:
        return ScriptedChatModel(answer=answer, **kwargs)

    return build
