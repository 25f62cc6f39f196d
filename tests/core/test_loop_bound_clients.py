"""Per-loop async clients close with their loop: ``asyncio.run(guard.acheck(...))`` in a loop
leaks no client and no socket (no ``ResourceWarning`` once the loop is gone)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from llamashield._loop_local import LoopLocal
from llamashield.testing import LoopbackServer


class _Item:
    def __init__(self) -> None:
        self.closed_while_running: bool | None = None

    async def aclose(self) -> None:
        self.closed_while_running = asyncio.get_running_loop().is_running()


def _resource_warnings_after_gc() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_an_item_is_closed_on_its_loop_when_asyncio_run_ends() -> None:
    local: LoopLocal[_Item] = LoopLocal(_Item, aclose=_Item.aclose)

    async def use() -> _Item:
        return local.get()

    first, second = asyncio.run(use()), asyncio.run(use())
    assert first is not second
    assert first.closed_while_running is True and second.closed_while_running is True


def test_aclose_current_closes_only_the_running_loops_item() -> None:
    local: LoopLocal[_Item] = LoopLocal(_Item, aclose=_Item.aclose)
    other, this = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        elsewhere = other.run_until_complete(_get(local))

        async def close_here() -> _Item:
            here = local.get()
            await local.aclose_current()
            assert local.get() is not here  # a fresh one after closing
            return here

        here = this.run_until_complete(close_here())
        assert here.closed_while_running is True and elsewhere.closed_while_running is None
    finally:
        for loop in (other, this):
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    assert elsewhere.closed_while_running is True  # closed by its own loop's shutdown


def test_items_of_loops_closed_without_shutdown_are_dropped_when_a_new_loop_asks() -> None:
    local: LoopLocal[_Item] = LoopLocal(_Item, aclose=_Item.aclose)
    bare = asyncio.new_event_loop()
    bare.run_until_complete(_get(local))
    bare.close()  # no shutdown_asyncgens: its item cannot be closed any more
    del bare
    asyncio.run(_get(local))
    assert len(local.values()) == 1  # only the new loop's, not one per loop ever used


async def _get(local: LoopLocal[Any]) -> Any:
    return local.get()


@pytest.mark.parametrize("kind", ["openai", "together", "ollama"])
def test_asyncio_run_per_check_closes_each_loops_http_client(kind: str) -> None:
    with LoopbackServer(engine="ollama" if kind == "ollama" else "openai") as server:
        _check_from_three_loops(server, kind)
    assert _resource_warnings_after_gc() == []


def _check_from_three_loops(server: LoopbackServer, kind: str) -> None:
    make = {"openai": server.openai_guard, "together": server.guard}
    with server.ollama_guard() if kind == "ollama" else make[kind]() as guard:
        backend: Any = guard.backend

        async def check() -> Any:
            assert (await guard.acheck("hello")).safe
            return backend._aclients.get()

        clients = [asyncio.run(check()) for _ in range(3)]
        for client in clients:
            closed = client.is_closed
            assert closed() if callable(closed) else closed
        assert len(backend._aclients.values()) == 1  # the closed loops' clients were dropped
