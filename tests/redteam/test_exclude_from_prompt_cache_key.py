"""Issue 20 item 8: "exclude_from_prompt=True and False share a key (the prompt differs, the
verdict differs)". Still so: _cache_key.cache_scope hashes the taxonomy's categories, the
blocking codes and the threshold, but not ``taxonomy.excluded`` (the categories left out of the
prompt). Two services sharing one verdict cache (one Redis for all replicas) answer each
other's checks: the one that shows the model only S1 gets the verdict of the full prompt."""

from __future__ import annotations

from llamashield import LlamaGuard
from llamashield._cache import LRUVerdictCache
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, GuardRequest

TEXT = "a message that is both S1 and S9 (zqx)"


class PromptAware(SimulatedBackend):
    """A model that names the most specific category its prompt lists: S9 when the prompt
    lists it, otherwise S1 (as a real model answers differently to a different prompt)."""

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        if "zqx" not in request.conversation[-1].content:
            return BackendAnswer("safe", 0.02, self.model)
        codes = {c.code for c in request.taxonomy.prompt_categories}
        return BackendAnswer("unsafe\nS9" if "S9" in codes else "unsafe\nS1", 0.97, self.model)


def test_guards_that_prompt_differently_never_share_a_cached_verdict() -> None:
    shared = LRUVerdictCache(100)
    full = LlamaGuard(PromptAware(), categories=["S1"], cache=shared)
    only_s1 = LlamaGuard(PromptAware(), categories=["S1"], exclude_from_prompt=True, cache=shared)
    alone = LlamaGuard(PromptAware(), categories=["S1"], exclude_from_prompt=True)
    assert not alone.check(TEXT).safe  # its own prompt: unsafe, S1 blocks
    assert full.check(TEXT).safe  # the full prompt: S9, which this policy does not block
    assert not only_s1.check(TEXT).safe, "answered from the other guard's cached verdict"
