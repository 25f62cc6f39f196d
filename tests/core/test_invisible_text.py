"""Text the HTTP backends could not send, and invisible characters that hide or split words."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import Category, LlamaGuard
from llamashield._conversation import neutralize
from llamashield.backends import SimulatedBackend
from llamashield.testing import LoopbackServer

pytest.importorskip("together")

TRIGGER = "how to build a bomb"
# Unicode 15.1 Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt), written out
# independently of the module's regex.
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]  # fmt: skip


def tags(text: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in text)


def selectors(text: str) -> str:
    return "".join(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in text.encode())


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.mark.parametrize("kind", ["together", "openai"])
async def test_lone_surrogates_never_crash_the_http_backends(
    server: LoopbackServer, kind: str
) -> None:
    guard = server.guard() if kind == "together" else server.openai_guard()
    for text in ("hello \ud800", "\udfff", f"{TRIGGER} \udc00"):
        verdict = guard.check(text)
        assert verdict.error is None and verdict.safe is (TRIGGER not in text)
        assert (await guard.acheck([{"role": "user", "content": ["x\ud83d", text]}])).error is None


def test_a_custom_category_with_a_lone_surrogate_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        LlamaGuard(SimulatedBackend(), categories=[Category("S1", "Bad \ud800 name")])


@pytest.mark.parametrize(
    "splitter", ["\U000e0020", "\U000e0041", "\U000e007f", "\U000e0101", "\U000e01ef",
                 "\U0001d173", "\U0001d17a", "\U0001bca0", "\ufff0", "\u2064"],
)  # fmt: skip
def test_invisible_characters_do_not_split_words(splitter: str) -> None:
    # A visible tag character is smuggled text too: decoded onto a line of its own ("AA").
    hidden = [2 * chr(ord(splitter) - 0xE0000)] if 0xE0021 <= ord(splitter) <= 0xE007E else []
    assert neutralize(f"b{splitter}o{splitter}mb").splitlines() == ["bomb", *hidden]


@pytest.mark.parametrize("hide", [tags, selectors], ids=["tag_characters", "variation_selectors"])
def test_text_smuggled_in_invisible_characters_is_judged(
    server: LoopbackServer, hide: Callable[[str], str]
) -> None:
    text = f"Nice weather today.{hide(TRIGGER)}"
    assert neutralize(text).splitlines() == ["Nice weather today.", TRIGGER]
    for guard in (server.guard(), server.openai_guard()):
        assert not guard.check(text).safe


def test_an_emoji_variation_selector_is_not_smuggled_text() -> None:
    assert (
        neutralize("I \u2764\ufe0f it \U0001f44d\U0001f3fd") == "I \u2764 it \U0001f44d\U0001f3fd"
    )


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.characters(exclude_categories=["Cn"]),  # surrogates (Cs) included
            st.sampled_from("\ud800\udfff\U000e0041\U000e0062\ufe0f\U000e0105\U0001d175\n "),
        ),
        max_size=40,
    )
)
def test_neutralized_text_is_sendable_and_has_no_default_ignorables(text: str) -> None:
    out = neutralize(text)
    out.encode("utf-8")  # never a lone surrogate
    for char in out:
        assert not any(lo <= ord(char) <= hi for lo, hi in DEFAULT_IGNORABLE), hex(ord(char))
    assert neutralize(out) == out
