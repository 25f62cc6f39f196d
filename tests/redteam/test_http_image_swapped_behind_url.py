"""Issue 20 item 8: "an http(s) image is cached by its URL, so an image swapped behind the same
URL is answered from the cache ... a conversation whose verdict depends on content llamashield
never saw (a URL it does not fetch) is not cached." The key still covers the URL only
(_cache_key.cache_key: `[t.role, t.content, *t.images]`), and the conversation-turn record
(which every guard has, even with cache=False) recalls the earlier verdict: a benign image
judged once, then swapped at the same URL, is never shown to Llama Guard again.

The backend below stands in for a Llama Guard 4 provider that fetches image URLs (as Together
does): its verdict follows the bytes the URL serves NOW."""

from __future__ import annotations

from dataclasses import replace

from llamashield import LlamaGuard
from llamashield._taxonomy import LLAMA_GUARD_4
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, Capabilities, GuardRequest

URL = "https://cdn.attacker.test/cat.png"
WEB = {URL: b"a cat"}  # what the URL serves right now


class FetchingLG4(SimulatedBackend):
    @property
    def capabilities(self) -> Capabilities:
        return replace(super().capabilities, supports_images=True)

    def __init__(self) -> None:
        super().__init__(model="meta-llama/Llama-Guard-4-12B", taxonomy=LLAMA_GUARD_4)

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        served = [WEB.get(url, b"") for url in request.conversation[-1].images]
        if any(b"weapon" in data for data in served):
            return BackendAnswer("unsafe\nS1", 0.97, self.model)
        return BackendAnswer("safe", 0.02, self.model)


def conversation() -> list[dict[str, object]]:
    image = {"type": "image_url", "image_url": {"url": URL}}
    return [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]},
        {"role": "user", "content": ""},
    ]


def test_an_image_swapped_behind_its_url_is_judged_again() -> None:
    backend = FetchingLG4()
    guard = LlamaGuard(backend)  # no cache configured
    assert guard.media == "judge"
    assert guard.check_conversation(conversation()).safe  # the cat
    WEB[URL] = b"weapon blueprint"  # swapped on the attacker's server
    verdict = guard.check_conversation(conversation())
    assert not verdict.safe, "the swapped image was answered from the turn record"
