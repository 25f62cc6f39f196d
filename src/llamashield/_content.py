"""Map any message content to the text Llama Guard reads: one function for the core and both
adapters, so no adapter can skip a shape the others judge.

``judged_text`` walks what a pipeline carries (str, content-part lists of the OpenAI, Anthropic,
LangChain and LlamaIndex vocabularies, dicts, pydantic models, dataclasses) and returns
``JudgedContent``: the text to judge, and the media parts (images, audio, files, video) the guard's
media policy decides. A shape it does not know is judged by its canonical JSON, never skipped;
a shape with neither text nor a JSON form raises ``UnjudgeableContent`` so the guard's error
policy blocks it. Pure and I/O-free: URLs and base64 data are never fetched or decoded as media.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Final

from llamashield._exceptions import UnjudgeableContent
from llamashield._native import Native, native_media

__all__ = ["JudgedContent", "MediaPart", "UnjudgeableContent", "fields_of", "judged_text"]

# Bounds so hostile or accidental data (deep nesting, a huge fan-out, a cycle) cannot blow the
# stack or the CPU: past them the content is unjudgeable, which blocks by default.
MAX_DEPTH: Final = 64
MAX_NODES: Final = 100_000


@dataclass(frozen=True, slots=True)
class MediaPart:
    """An image, audio, file or video part found in content (never fetched or decoded).

    Example::

        judged_text([{"type": "image_url", "image_url": {"url": "https://..."}}]).media[0].kind
        # 'image'
    """

    kind: str
    source: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JudgedContent:
    """What Llama Guard must read (``text``) and the media parts its policy decides.

    Example::

        judged = judged_text([{"type": "text", "text": "hi"}, {"type": "input_text", "text": "x"}])
        judged.text    # 'hi\\nx'
        judged.media   # ()
    """

    text: str
    media: tuple[MediaPart, ...] = ()


@dataclass(frozen=True, slots=True)
class _Part:
    """How one known part ``type`` is read.

    ``text``: keys judged as content, in order (str as is, anything else walked); ``json``: keys
    judged as canonical JSON (tool arguments); ``media``: keys that hold the media payload (they
    stay in ``MediaPart.data``); ``kind``: set for media types. Every other key except
    ``_INERT`` is judged too, after these: an unexpected field is never skipped.
    """

    text: tuple[str, ...] = ()
    json: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    kind: str | None = None


# Identifiers, positions and opaque provider blobs (encrypted reasoning, thinking signatures):
# no model reads them as language, and judging base64 noise would only dilute the real text.
_INERT: Final = frozenset(
    {"type", "id", "index", "cache_control", "signature", "encrypted_content", "call_id",
     "tool_call_id", "tool_use_id", "status", "mime_type", "media_type", "format", "detail",
     "block_type", "image_mimetype", "mimeType"}
)  # fmt: skip

# Metadata lists that are usually empty; an empty one is not judged ("annotations": []).
_EMPTY_OK: Final = frozenset({"annotations", "citations", "extras", "logprobs"})

_TOOL_CALL = _Part(text=("name",), json=("args", "input", "arguments"))
_IMAGE_KEYS = ("url", "base64", "data", "source", "file_id", "image_url", "image", "path")
_FILE_KEYS = (
    *_IMAGE_KEYS, "file", "file_data", "file_url", "input_audio", "audio", "video"
)  # fmt: skip

_PARTS: Final[dict[str, _Part]] = {
    # Plain text, in every vocabulary.
    "text": _Part(text=("text",)),
    "input_text": _Part(text=("text",)),
    "output_text": _Part(text=("text",)),
    "summary_text": _Part(text=("text",)),
    "reasoning_text": _Part(text=("text",)),
    "refusal": _Part(text=("refusal",)),
    # Reasoning: the model's own words, which a consumer or a later turn can read.
    "reasoning": _Part(text=("reasoning", "summary", "content", "text")),
    "thinking": _Part(text=("thinking",)),
    "redacted_thinking": _Part(text=("data",)),
    # Tool calls: the tool's name and its arguments as JSON (a str of arguments as is).
    "tool_use": _TOOL_CALL,
    "tool_call": _TOOL_CALL,
    "tool_call_chunk": _TOOL_CALL,
    "invalid_tool_call": _TOOL_CALL,
    "function_call": _TOOL_CALL,
    "server_tool_call": _TOOL_CALL,
    "server_tool_call_chunk": _TOOL_CALL,
    "server_tool_use": _TOOL_CALL,
    "function": _Part(text=("function",)),  # OpenAI chat tool_calls: {"function": {name, args}}
    # Tool results and structured data.
    "tool_result": _Part(text=("content",)),
    "function_call_output": _Part(text=("output",)),
    "server_tool_result": _Part(text=("output",)),
    "web_search_tool_result": _Part(text=("content",)),
    "web_search_result": _Part(text=("title", "url")),
    "json": _Part(json=("json",)),
    "non_standard": _Part(json=("value",)),
    # Documents: title, where they come from, and their content.
    "search_result": _Part(text=("title", "source", "content", "text")),
    "document": _Part(text=("title", "context", "content", "text"), media=("source",)),
    "text-plain": _Part(text=("title", "context", "text"), media=("base64", "url", "file_id")),
    # Media: the payload is never read; captions and other text fields are.
    "image": _Part(media=_IMAGE_KEYS, kind="image"),
    "image_url": _Part(media=_IMAGE_KEYS, kind="image"),
    "input_image": _Part(media=_IMAGE_KEYS, kind="image"),
    "audio": _Part(text=("transcript",), media=_FILE_KEYS, kind="audio"),
    "input_audio": _Part(text=("transcript",), media=_FILE_KEYS, kind="audio"),
    "file": _Part(media=_FILE_KEYS, kind="file"),
    "input_file": _Part(media=_FILE_KEYS, kind="file"),
    "video": _Part(media=_FILE_KEYS, kind="video"),
}


# Anthropic document sources that hold text rather than a PDF or a URL.
_SOURCES: Final[dict[Any, _Part]] = {
    "text": _Part(text=("data",)),
    "content": _Part(text=("content",)),
}


def judged_text(content: Any) -> JudgedContent:
    """The text Llama Guard must read in ``content``, and the media parts found in it.

    Raises ``UnjudgeableContent`` for a shape with neither text nor a JSON form, undecodable
    bytes, cyclic data, or data past the depth/size bounds.

    Example::

        judged_text([{"type": "tool_use", "name": "search", "input": {"q": "weather"}}]).text
        # 'search\\n{"q": "weather"}'
    """
    if isinstance(content, str):
        return JudgedContent(content)  # the common case, without a walk
    if type(content) is list and len(content) < MAX_NODES and all(type(x) is str for x in content):
        # Plain strings (a message's parts, a prompt's variables): the walk's result, directly.
        return JudgedContent("\n".join(t for t in content if t))
    walker = _Walker()
    walker.judge(content, 0)
    return JudgedContent("\n".join(t for t in walker.texts if t), tuple(walker.media))


def canonical_json(value: Any) -> str:
    """``value`` as sorted-key JSON (non-ASCII kept), after the same conversions ``judged_text``
    applies (pydantic models, dataclasses, bytes); raises ``UnjudgeableContent`` like it."""
    return _dump(_Walker().plain(value, 0))


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class _Walker:
    """One walk over content: collects texts and media, bounded in depth and size."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media: list[MediaPart] = []
        self._nodes = 0
        self._path: set[int] = set()  # ids of the containers being walked: a repeat is a cycle

    def judge(self, node: Any, depth: int) -> None:
        self._visit(depth)
        if isinstance(node, str):
            self.texts.append(node)
            return
        scalar = _scalar(node)
        if scalar is not None:
            self.texts.append(scalar)
            return
        converted = _converted(node)
        if converted is not None:
            self._inside(node, lambda: self.judge(converted, depth + 1))
        elif isinstance(node, Mapping):
            self._inside(node, lambda: self._judge_mapping(node, depth))
        elif isinstance(node, Sequence | Set):
            self._inside(node, lambda: self._judge_items(node, depth))
        else:
            self.texts.append(_str_of(node))

    def plain(self, node: Any, depth: int) -> Any:
        """``node`` as JSON-ready data (str keys, lists), under the same bounds as ``judge``."""
        self._visit(depth)
        if node is None or isinstance(node, str | bool | int | float):
            return node
        if isinstance(node, bytes | bytearray | memoryview):
            return _decoded(node)
        converted = _converted(node)
        result: list[Any] = []
        if converted is not None:
            self._inside(node, lambda: result.append(self.plain(converted, depth + 1)))
        elif isinstance(node, Mapping):
            self._inside(node, lambda: result.append(self._plain_mapping(node, depth)))
        elif isinstance(node, Sequence):
            self._inside(node, lambda: result.append([self.plain(v, depth + 1) for v in node]))
        elif isinstance(node, Set):
            # A set has no order: sort its members' JSON so one set always reads the same.
            self._inside(node, lambda: result.append(self._plain_set(node, depth)))
        else:
            return _str_of(node)
        return result[0]

    def _plain_mapping(self, node: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        plain = {k if isinstance(k, str) else _dump(self.plain(k, depth + 1)): self.plain(
            v, depth + 1) for k, v in node.items()}  # fmt: skip
        if len(plain) != len(node):
            raise UnjudgeableContent("a dict whose keys collide as text (1 and '1') is ambiguous")
        return plain

    def _plain_set(self, node: Set[Any], depth: int) -> list[Any]:
        return sorted((self.plain(v, depth + 1) for v in node), key=_dump)

    def _visit(self, depth: int) -> None:
        self._nodes += 1
        if depth > MAX_DEPTH:
            raise UnjudgeableContent(f"content nested deeper than {MAX_DEPTH} levels")
        if self._nodes > MAX_NODES:
            raise UnjudgeableContent(f"content has more than {MAX_NODES:,} parts")

    def _inside(self, node: object, walk: Callable[[], None]) -> None:
        key = id(node)
        if key in self._path:
            raise UnjudgeableContent(f"content contains itself (a cycle through a {_name(node)})")
        self._path.add(key)
        try:
            walk()
        finally:
            self._path.discard(key)

    def _judge_items(self, items: Sequence[Any] | Set[Any], depth: int) -> None:
        if isinstance(items, Set):
            # No order to keep: sorted JSON makes the judged text (and the cache key) stable.
            self.texts.append(_dump(self._plain_set(items, depth)))
            return
        for item in items:
            self.judge(item, depth + 1)

    def _judge_mapping(self, part: Mapping[Any, Any], depth: int) -> None:
        # LlamaIndex blocks (ImageBlock, TextBlock, ...) dump to {"block_type": ...}: the same
        # vocabulary under another key, so an ImageBlock's url/path/image bytes stay media.
        kind = part.get("type", part.get("block_type"))
        spec = _PARTS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            native = native_media(part)
            if native is not None:
                # Bedrock Converse / Gemini media: LangChain and the providers read it as media.
                self._judge_native(native, depth)
                return
            # A dict of no known type: its whole canonical JSON is judged, never skipped.
            self.texts.append(_dump(self._plain_mapping(part, depth)))
        else:
            self._judge_part(part, str(kind), spec, depth)

    def _judge_part(self, part: Mapping[Any, Any], kind: str, spec: _Part, depth: int) -> None:
        for key in spec.text:
            if part.get(key) is not None:
                self.judge(part[key], depth + 1)
        for key in spec.json:
            value = part.get(key)
            if isinstance(value, str):
                self.texts.append(value)  # already a JSON string (OpenAI arguments, chunks)
            elif value is not None:
                self.texts.append(_dump(self.plain(value, depth + 1)))
        payload = {k: part[k] for k in spec.media if part.get(k) is not None}
        consumed = bool(payload) and self._payload_as_text(kind, part, payload, depth)
        if not consumed and (payload or spec.kind is not None):
            self.media.append(MediaPart(spec.kind or "file", f"{kind} part", part))
        handled = {*spec.text, *spec.json, *spec.media}
        rest = {k: v for k, v in part.items() if k not in handled and not _quiet(k, v)}
        if rest:
            # Fields this part type does not define are judged too, with their keys.
            self.texts.append(_dump(self.plain(rest, depth)))

    def _judge_native(self, native: Native, depth: int) -> None:
        self.media += (MediaPart(kind, source, data) for kind, source, data in native.media)
        self.texts += native.texts
        for fields in native.rest:
            rest = {k: v for k, v in fields.items() if not _quiet(k, v)}
            if rest:
                # Names, captions, text sources and unknown keys around the payload.
                self.texts.append(_dump(self.plain(rest, depth)))

    def _payload_as_text(
        self, kind: str, part: Mapping[Any, Any], payload: Mapping[str, Any], depth: int
    ) -> bool:
        """Judge a payload that is text in disguise (a text document, an inline text file: a
        chat model reads it as text); False if it is media."""
        inline = _inline_text_file(part, payload)
        if inline is not None:
            self.texts.append(inline)
            return True
        if kind == "document" and set(payload) == {"source"}:
            source = payload["source"]
            if isinstance(source, str):
                self.texts.append(source)
                return True
            inner = _SOURCES.get(source.get("type")) if isinstance(source, Mapping) else None
            if inner is not None:
                self._inside(source, lambda: self._judge_part(source, "source", inner, depth + 1))
                return True
        if kind == "text-plain" and set(payload) == {"base64"}:
            text = _base64_text(payload["base64"])
            if text is not None:
                self.texts.append(text)
                return True
        return False


def _quiet(key: Any, value: Any) -> bool:
    """A field that carries no language: an identifier-like scalar or empty metadata."""
    if key in _INERT:
        # A scalar without whitespace (an id, a MIME type, a base64 signature); anything
        # longer-winded in these fields is judged like any other field.
        return (
            value is None
            or isinstance(value, bool | int | float)
            or (isinstance(value, str) and not any(c.isspace() for c in value))
        )
    return key in _EMPTY_OK and (
        value is None or (isinstance(value, str | list | tuple | dict) and not value)
    )


def _scalar(node: Any) -> str | None:
    if node is None:
        return ""
    if isinstance(node, bool | int | float):
        return str(node)
    if isinstance(node, bytes | bytearray | memoryview):
        return _decoded(node)
    return None


def fields_of(node: Any) -> Mapping[str, Any] | None:
    """A pydantic model's or a dataclass's fields by name (JSON values for a model), or None
    for anything else; raises ``UnjudgeableContent`` for a model that cannot be dumped."""
    converted = _converted(node)
    return converted if isinstance(converted, Mapping) else None


def _converted(node: Any) -> Any:
    """A pydantic model's or a dataclass's data, or None for anything else."""
    if isinstance(node, type):
        return None
    dump = getattr(node, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:
            # Fields with no JSON form (arbitrary types): walk the Python values instead.
            try:
                return dump()
            except Exception as exc:
                raise UnjudgeableContent(f"{_name(node)} could not be dumped: {exc}") from None
    if dataclasses.is_dataclass(node):
        return {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}
    return None


def _decoded(data: bytes | bytearray | memoryview) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise UnjudgeableContent("bytes that are not UTF-8 text cannot be judged") from None


# Files a chat model reads as text when they are attached inline.
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/x-yaml",
                      "application/yaml", "application/x-ndjson")  # fmt: skip


def _inline_text_file(part: Mapping[Any, Any], payload: Mapping[str, Any]) -> str | None:
    """The decoded text of a base64 text file attached inline, in LangChain's (``base64``, or
    v0 ``source_type``/``data``, with ``mime_type``), OpenAI's (``file.file_data`` as a data
    URL) or Anthropic's (``source`` of type ``base64`` with ``media_type``) shape; None for
    anything else (left to media)."""
    mime, data = part.get("mime_type") or part.get("media_type"), payload.get("base64")
    if data is None and part.get("source_type") == "base64":
        data = payload.get("data")  # LangChain's v0 shape: {"source_type": "base64", "data"}
    source, file = payload.get("source"), payload.get("file")
    if isinstance(source, Mapping) and source.get("type") == "base64":
        mime, data = source.get("media_type"), source.get("data")
    url = file.get("file_data") if isinstance(file, Mapping) else payload.get("file_data")
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        mime, _, data = url[5:].partition(";base64,")
    if not (isinstance(mime, str) and mime.lower().startswith(_TEXT_TYPES)):
        return None
    return _base64_text(data)


def _base64_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _str_of(node: Any) -> str:
    """``str(node)`` when its class says what its text is; otherwise unjudgeable."""
    cls: Any = type(node)
    if cls.__str__ is object.__str__:
        raise UnjudgeableContent(
            f"cannot judge a {_name(node)}: it is not text, a dict, a list, a pydantic model or "
            "a dataclass and defines no __str__; convert it to text first"
        )
    try:
        return str(node)
    except Exception as exc:
        raise UnjudgeableContent(f"str() of a {_name(node)} failed: {exc}") from None


def _name(node: object) -> str:
    cls = type(node)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
