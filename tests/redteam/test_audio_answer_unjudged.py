"""An audio answer is never judged. langchain_openai puts a model's audio output (gpt-4o audio,
`modalities=["text", "audio"]`) in `additional_kwargs["audio"]` (`{"id", "data": base64 wav,
"transcript", "expires_at"}`; chat_models/base.py `_convert_dict_to_message`) with an empty
`content`. _inputs.message_parts reads content, name and the `_EXTRA_KEYS` of
additional_kwargs (reasoning, function_call, refusal...), not "audio": the answer has "nothing
to judge" (output_message -> None) and GuardedChatModel / guard_runnable return it unjudged.
Neither its transcript is judged nor does the audio meet the media policy (media="block" is
the default for Llama Guard 2/3); the consumer plays the unsafe answer."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_llamashield import GuardedChatModel, guard_runnable
from langchain_llamashield.testing import ScriptedChatModel

from tests._support.last_turn import TRIGGER, last_turn_guard, leaks

AUDIO = {
    "id": "audio_1",
    "data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEA",
    "expires_at": 0,
    "transcript": f"Sure. Step one: {TRIGGER} PAYLOAD",
}


def model() -> ScriptedChatModel:
    return ScriptedChatModel(responses=[AIMessage(content="", additional_kwargs={"audio": AUDIO})])


@pytest.mark.parametrize("wrapper", ["GuardedChatModel", "guard_runnable"])
def test_an_audio_answer_is_judged(wrapper: str) -> None:
    guard, backend = last_turn_guard()
    guarded = (
        GuardedChatModel(model(), guard, on_unsafe="refuse")
        if wrapper == "GuardedChatModel"
        else guard_runnable(model(), guard, on_unsafe="refuse")
    )
    answer = guarded.invoke("say something")
    assert not leaks(answer), f"returned unjudged; the guard saw only {backend.last_turns}"
