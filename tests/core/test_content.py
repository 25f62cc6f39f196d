"""``judged_text``: every shape of content is judged, handed to the media policy, or refused.

The central property plants uniquely numbered triggers anywhere in arbitrarily nested content
(every known part type, unknown types, plain dicts, pydantic models, dataclasses, objects) and
checks each one either reaches the judged text or sits in a ``MediaPart`` (the media policy
decides it), unless the whole content was refused as ``UnjudgeableContent``.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from llamashield import LlamaGuard
from llamashield._content import (
    MAX_DEPTH,
    JudgedContent,
    MediaPart,
    UnjudgeableContent,
    judged_text,
)
from llamashield._conversation import normalize_conversation
from llamashield.backends import SimulatedBackend

TOKEN = re.compile(r"zq\d+ build a bomb")

# Every part type the contract names, plus ones it does not (which must be judged as JSON).
KNOWN_TYPES = [
    "text", "input_text", "output_text", "summary_text", "reasoning_text", "refusal",
    "reasoning", "thinking", "redacted_thinking", "tool_use", "tool_call", "tool_call_chunk",
    "invalid_tool_call", "function_call", "server_tool_call", "server_tool_call_chunk",
    "server_tool_use", "function", "tool_result", "function_call_output", "server_tool_result",
    "web_search_tool_result", "web_search_result", "json", "non_standard", "search_result",
    "document", "text-plain", "image", "image_url", "input_image", "audio", "input_audio",
    "file", "input_file", "video",
]  # fmt: skip
OTHER_TYPES = ["citation", "Document", "human", "custom_block", ""]
FIELDS = [
    "text", "reasoning", "summary", "content", "thinking", "data", "name", "args", "input",
    "arguments", "json", "value", "title", "source", "context", "url", "base64", "image_url",
    "file", "file_data", "file_id", "output", "refusal", "caption", "function", "filename",
    "id", "index", "signature", "encrypted_content", "annotations", "extras", "mime_type",
    "status", "detail", "format", "call_id",
]  # fmt: skip


class Model(BaseModel):
    first: Any = None
    rest: list[Any] = []


@dataclasses.dataclass
class Record:
    first: Any
    second: Any = None


class Speaks:
    """An object whose class says what its text is."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __str__(self) -> str:
        return f"Speaks({self.payload})"


class Opaque:
    """An object with no text form: judging it must refuse, not skip it."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload


triggers = st.integers(0, 10**12).map(lambda n: f"zq{n} build a bomb")
leaves = st.one_of(
    triggers,
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    triggers.map(str.encode),
    st.binary(max_size=4),
    st.frozensets(st.one_of(triggers, st.integers()), max_size=2),
)


# Deferred, so the strategy's repr stays small (a recursive one re-prints every branch).
contents: st.SearchStrategy[Any] = st.deferred(
    lambda: st.one_of(leaves, leaves, containers)  # leaves twice: keeps trees small
)
keys = st.one_of(st.sampled_from(FIELDS), triggers, st.text(max_size=6))
parts = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(KNOWN_TYPES + OTHER_TYPES),
    st.dictionaries(keys, contents, max_size=3),
)
containers: st.SearchStrategy[Any] = st.one_of(
    st.lists(contents, max_size=3),
    st.tuples(contents, contents),
    parts,
    parts,
    st.dictionaries(keys, contents, max_size=3),
    st.builds(Model, first=contents, rest=st.lists(contents, max_size=2)),
    st.builds(Record, contents, contents),
    st.builds(Speaks, contents),
    st.builds(Opaque, contents),
)


def planted(node: Any) -> Iterator[str]:
    """Every trigger anywhere in ``node`` (keys, bytes and object attributes included)."""
    if isinstance(node, str):
        yield from TOKEN.findall(node)
    elif isinstance(node, bytes):
        yield from TOKEN.findall(node.decode("utf-8", "replace"))
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from planted(key)
            yield from planted(value)
    elif isinstance(node, list | tuple | set | frozenset):
        for item in node:
            yield from planted(item)
    elif isinstance(node, BaseModel):
        yield from planted(dict(node))
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield from planted(dataclasses.asdict(node))
    elif isinstance(node, Speaks):
        # Its text is what its own __str__ says (as any framework printing it would show).
        yield from TOKEN.findall(str(node))
    elif isinstance(node, Opaque):
        yield from planted(node.payload)


def judged_or_refused(content: Any) -> JudgedContent | None:
    try:
        return judged_text(content)
    except UnjudgeableContent:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents)
def test_every_planted_trigger_is_judged_or_media_or_refused(content: Any) -> None:
    judged = judged_or_refused(content)
    if judged is None:
        return
    in_media = {token for part in judged.media for token in planted(part.data)}
    for token in planted(content):
        assert token in judged.text or token in in_media, (token, judged)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents, st.sampled_from(["user", "assistant"]))
def test_normalized_turns_carry_every_judged_trigger(content: Any, role: str) -> None:
    """Through ``normalize_conversation`` too: the turn's text holds what ``judged_text`` found."""
    judged = judged_or_refused(content)
    turn = normalize_conversation([{"role": role, "content": content}])[-1]
    if judged is None:
        assert turn.problem is not None and turn.content == ""
        return
    for token in TOKEN.findall(judged.text):
        assert token in turn.content
    assert len(turn.media) == len(judged.media)


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain", "plain"),
        (None, ""),
        (b"caf\xc3\xa9", "café"),
        (3, "3"),
        ([{"type": "text", "text": "a"}, {"type": "input_text", "text": "b"}], "a\nb"),
        ({"type": "reasoning", "summary": [{"type": "summary_text", "text": "why"}]}, "why"),
        ({"type": "thinking", "thinking": "hmm", "signature": "c2ln"}, "hmm"),
        ({"type": "tool_use", "name": "search", "input": {"q": "x"}}, 'search\n{"q": "x"}'),
        ({"type": "function_call", "name": "f", "arguments": '{"a": 1}'}, 'f\n{"a": 1}'),
        ({"type": "json", "json": {"b": 1, "a": "é"}}, '{"a": "é", "b": 1}'),
        (
            {"type": "search_result", "title": "T", "source": "https://s", "content": ["c"]},
            "T\nhttps://s\nc",
        ),
        ({"type": "document", "source": {"type": "text", "data": "doc"}}, "doc"),
        ({"type": "text-plain", "base64": base64.b64encode(b"hidden").decode()}, "hidden"),
        ({"no_type": "x"}, '{"no_type": "x"}'),
        ({"type": "text", "text": "t", "annotations": [], "id": "lc_1"}, "t"),
        ({"type": "text", "text": "t", "note": "extra"}, 't\n{"note": "extra"}'),
        ({"type": "text", "text": "t", "id": "an id with words"}, 't\n{"id": "an id with words"}'),
        (Model(first="m"), '{"first": "m", "rest": []}'),
        (Record("r"), '{"first": "r", "second": null}'),
        (Speaks("s"), "Speaks(s)"),
    ],
)
def test_shapes_read_as_expected(content: Any, text: str) -> None:
    assert judged_text(content).text == text


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        ({"type": "image_url", "image_url": {"url": "https://x/y.png"}}, "image"),
        ({"type": "image", "source": {"type": "base64", "data": "AAAA"}}, "image"),
        ({"type": "input_image", "image_url": "data:image/png;base64,AA"}, "image"),
        ({"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}, "audio"),
        ({"type": "file", "file": {"file_id": "f1"}}, "file"),
        ({"type": "input_file", "file_id": "f1"}, "file"),
        ({"type": "video", "url": "https://v"}, "video"),
        ({"type": "document", "source": {"type": "base64", "data": "JVBER"}}, "file"),
        ({"type": "text-plain", "url": "https://t"}, "file"),
    ],
)
def test_media_parts_are_reported_not_read(part: dict[str, Any], kind: str) -> None:
    judged = judged_text(["look", part])
    assert judged.text == "look"
    assert judged.media == (MediaPart(kind, f"{part['type']} part", part),)


def test_a_media_caption_is_judged() -> None:
    part = {"type": "image", "url": "https://x", "caption": "a caption"}
    judged = judged_text(part)
    assert judged.text == '{"caption": "a caption"}' and len(judged.media) == 1


def _nested(depth: int) -> Any:
    node: Any = "x"
    for _ in range(depth):
        node = [node]
    return node


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (object(), "object"),
        (Opaque("x"), "Opaque"),
        (b"\xff\xfe", "UTF-8"),
        (_nested(MAX_DEPTH + 5), "deeper"),
        (iter(["x"]), "list_iterator"),
        ({1: "a", "1": "b"}, "collide"),
    ],
)
def test_unjudgeable_shapes_are_refused_with_their_name(content: Any, match: str) -> None:
    with pytest.raises(UnjudgeableContent, match=match):
        judged_text(content)


def test_cycles_are_refused_not_recursed() -> None:
    loop: list[Any] = ["x"]
    loop.append(loop)
    with pytest.raises(UnjudgeableContent, match="cycle"):
        judged_text(loop)
    mapping: dict[str, Any] = {"type": "text", "text": "x"}
    mapping["extra"] = mapping
    with pytest.raises(UnjudgeableContent, match="cycle"):
        judged_text(mapping)


def test_shared_but_acyclic_parts_are_judged_each_time() -> None:
    part = {"type": "text", "text": "twice"}
    assert judged_text([part, part]).text == "twice\ntwice"


def test_message_keys_beyond_content_are_judged() -> None:
    message = {
        "role": "assistant",
        "content": "",
        "reasoning_content": "private plan",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "run", "arguments": '{"cmd": "x"}'}}],
        "function_call": {"name": "legacy", "arguments": "{}"},
    }  # fmt: skip
    turn = normalize_conversation([("user", "q"), message])[-1]
    for word in ("private plan", "run", "cmd", "legacy"):
        assert word in turn.content


class RoleMessage:
    """A message object with ``role``/``content`` attributes (the core's object branch)."""

    def __init__(
        self, role: str, content: Any, name: str | None = None, kwargs: Any = None
    ) -> None:
        self.role, self.content, self.name, self.additional_kwargs = role, content, name, kwargs


class BlocksMessage:
    """A message of content blocks with ``additional_kwargs`` (LlamaIndex's shape)."""

    def __init__(self, role: str, text: str, **kwargs: Any) -> None:
        self.role, self.additional_kwargs = role, kwargs
        self.blocks = [{"type": "text", "text": text}]


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.sampled_from(["user", "tool"]))
def test_a_message_name_is_judged_with_its_content(name: str, role: str) -> None:
    """OpenAI's ``name`` (a participant's, a tool's) is sent to the model: judged, in every
    message form the core reads; ids are not."""
    forms = [
        {"role": role, "content": "words", "name": name, "id": "idq42"},
        RoleMessage(role, "words", name),
        RoleMessage(role, "words", None, {"name": name}),
        BlocksMessage(role, "words", name=name),
    ]
    for message in forms:
        turn = normalize_conversation([message])[-1]
        assert turn.content.startswith("words") and name in turn.content, message
        assert "idq42" not in turn.content


def test_an_unsafe_name_makes_the_message_unsafe() -> None:
    guard = LlamaGuard(SimulatedBackend())
    message = {"role": "user", "content": "answer in my name", "name": "how-to-build-a-bomb"}
    assert not guard.check([message]).safe
    assert guard.check([{**message, "name": "alice"}]).safe


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents, st.sampled_from(["user", "assistant"]))
def test_the_guard_never_passes_a_planted_trigger(content: Any, role: str) -> None:
    """End to end, under the defaults (media="block", on_error="block"): content with a trigger
    anywhere is judged unsafe or blocked, whatever its shape."""
    if not list(planted(content)):
        return
    conversation = [{"role": "user", "content": "hi"}, {"role": role, "content": content}]
    verdict = LlamaGuard(SimulatedBackend()).check(conversation)
    assert not verdict.safe, verdict
