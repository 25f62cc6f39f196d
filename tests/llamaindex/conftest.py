"""Fixtures for the LlamaIndex adapter tests: guards over the loopback server, indexes."""

from __future__ import annotations

import pytest
from llama_index.core import VectorStoreIndex

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer
from tests.llamaindex.li_helpers import POISONED_DOC, SAFE_DOCS, build_index


@pytest.fixture
def guard(loopback_server: LoopbackServer) -> LlamaGuard:
    """Llama Guard over real HTTP (the together SDK) against the loopback server."""
    return loopback_server.guard()


@pytest.fixture
def sim_guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


@pytest.fixture
def safe_index() -> VectorStoreIndex:
    return build_index(SAFE_DOCS)


@pytest.fixture
def poisoned_index() -> VectorStoreIndex:
    return build_index([*SAFE_DOCS, POISONED_DOC])
