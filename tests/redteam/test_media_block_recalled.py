"""media="block": an image in a message is left to on_error (blocked by default). The turn
record stores the verdict of the TEXT before the media policy is applied (_guard._judge writes
it, then _finish applies media_error), and check_turns returns a recalled verdict without
_finish. Sending the same conversation twice (with a trailing empty message, so the image's
message is not the "last" one that is judged afresh) lets the image through."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from langchain_llamashield import GuardedChatModel
from langchain_llamashield.testing import ScriptedChatModel

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend

IMAGE = {"type": "image_url", "image_url": {"url": "https://attacker.test/anything.png"}}


def conversation() -> list[dict[str, object]]:
    return [
        {"role": "user", "content": [{"type": "text", "text": "describe this"}, IMAGE]},
        {"role": "user", "content": ""},
    ]


def test_core_second_identical_call_is_still_blocked() -> None:
    guard = LlamaGuard(SimulatedBackend())  # Llama Guard 2: media="block", on_error="block"
    assert guard.media == "block"
    first = guard.check_conversation(conversation())
    assert not first.safe  # the media policy blocks it
    second = guard.check_conversation(conversation())
    assert not second.safe, "the same image passes on the second try"


def test_guarded_chat_model_never_sends_the_image() -> None:
    guard = LlamaGuard(SimulatedBackend())
    model = ScriptedChatModel(answer="A picture of ...")
    guarded = GuardedChatModel(model, guard, on_unsafe="refuse")
    messages = [
        HumanMessage(content=[{"type": "text", "text": "describe this"}, IMAGE]),
        HumanMessage(content=""),
    ]
    guarded.invoke(messages)  # refused: the image is blocked
    guarded.invoke(messages)
    assert model.calls == 0, "the wrapped model received the blocked image"
