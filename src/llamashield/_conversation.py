"""Turn what users pass (a string, chat messages, content parts) into a judged conversation.

Pure and I/O-free. The result is a tuple of ``Turn``s alternating User/Agent, ending with the
turn being judged; system and tool messages are not judged and are dropped, consecutive turns of
one role are merged (Llama Guard's template requires alternation). What a message's content
means as text is ``_content.judged_text``'s job, shared with the adapters.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from llamashield._content import MediaPart, UnjudgeableContent, judged_text

__all__ = [
    "Conversation",
    "Role",
    "Turn",
    "neutralize",
    "normalize_conversation",
    "register_message_reader",
]

Role = Literal["user", "agent"]

_ROLE_ALIASES: dict[str, Role | None] = {
    "user": "user",
    "assistant": "agent",
    "agent": "agent",
    "model": "agent",
    "system": None,
    "developer": None,
    "tool": None,
    "function": None,
}
# LangChain's role spellings: its adapter converts its messages at its boundary
# (``register_message_reader``), so the core names the roles it takes instead.
_FRAMEWORK_ROLES = frozenset({"human", "ai"})

# Invisible characters used to split trigger words ("b\u200bomb") or reorder text on screen:
# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt, 15.1), which renders as
# nothing by definition, so removing it changes nothing a reader sees. It includes the tag
# characters, variation selectors (both blocks) and the musical-symbol format controls.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# Lone surrogates cannot be encoded as UTF-8: any HTTP client would crash on them.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Invisible text a chat model may still read ("ASCII smuggling"): runs of tag characters spell
# ASCII, runs of variation selectors spell bytes. Stripping alone would hide it from the guard,
# so it is decoded and judged on a line of its own.
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{2,}")
_SELECTOR_RUN = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile("\r\n?|[\u2028\u2029]")
# Combining marks NFKC could not compose onto their letter ("b\u0336o\u0336m\u0336b\u0336",
# Zalgo text) split a word into odd tokens the model may not recognise; accents that compose
# ("e\u0301" -> "é") are already single characters by then and stay.
_STRAY_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# A word mixing Latin with Cyrillic or Greek letters ("b\u043emb") is a homoglyph trick, not a
# language: its look-alike letters are folded to Latin. Words in one script are left alone.
_GREEK_OR_CYRILLIC = re.compile("[\u0370-\u03ff\u0400-\u04ff]")
_LATIN_LETTER = re.compile("[A-Za-z]")
_WORD = re.compile(r"\w+")
_LATIN_LOOKALIKES = str.maketrans(
    "аеорсухѕіјһԁԛԝкАВЕКМНОРСТУХЅІЈ"  # Cyrillic
    "αοικνρυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",  # Greek
    "aeopcyxsijhdqwkABEKMHOPCTYXSIJ"  # their Latin twins, in the same order
    "aoikvpuxABEZHIKMNOPTYX",
)
# Structure of the Llama Guard prompts that message text must never reproduce.
_MARKERS = re.compile(
    r"<\s*(/?)\s*(BEGIN|END)(\s+(?:UNSAFE\s+CONTENT\s+CATEGORIES|CONVERSATION))\s*>",
    re.IGNORECASE,
)
_INST = re.compile(r"\[\s*(/?)\s*INST\s*\]", re.IGNORECASE)
_SPECIAL_TOKEN = re.compile(r"<\|([^|<>]{0,64})\|>")
_LLAMA2_TOKEN = re.compile(r"</?s>", re.IGNORECASE)
_ROLE_LINE = re.compile(r"^([ \t]*)(User|Agent)([ \t]*):", re.IGNORECASE | re.MULTILINE)
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    content: str
    # True when the message had only non-text parts (images, audio, files): nothing Llama Guard
    # can read, so the guard lets its error policy decide instead of judging an empty turn.
    media_only: bool = field(default=False, compare=False)
    # The non-text parts found in the messages of this turn; the guard's media policy decides.
    media: tuple[MediaPart, ...] = field(default=(), compare=False)
    # Why part of this turn could not be judged (``UnjudgeableContent``): the error policy
    # decides, so the role is kept rather than raising at the call site.
    problem: str | None = field(default=None, compare=False)
    # The images Llama Guard 4 reads with this turn, as the URLs of OpenAI ``image_url`` parts
    # (http(s) or base64 ``data:``); filled by the guard under media="judge" (``_media.py``).
    images: tuple[str, ...] = ()


Conversation = tuple[Turn, ...]


def _fold_lookalikes(match: re.Match[str]) -> str:
    word = match.group(0)
    if _LATIN_LETTER.search(word) and _GREEK_OR_CYRILLIC.search(word):
        return word.translate(_LATIN_LOOKALIKES)
    return word


def _smuggled(text: str) -> list[str]:
    """Text hidden in tag characters or variation selectors, decoded."""
    found = ["".join(chr(ord(c) - 0xE0000) for c in run) for run in _TAG_RUN.findall(text)]
    for run in _SELECTOR_RUN.findall(text):
        data = bytes(ord(c) - 0xFE00 if ord(c) < 0x10000 else ord(c) - 0xE0100 + 16 for c in run)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded.isprintable():
            found.append(decoded)
    return [f for f in found if f.strip()]


def neutralize(text: str) -> str:
    """Make message text inert inside a Llama Guard prompt.

    NFKC folds homoglyph forms (fullwidth ``＜``) into what the tokenizer would see anyway;
    invisible and control characters go; prompt markers, ``[INST]``, special tokens and
    ``User:``/``Agent:`` at a line start are broken up so the text stays readable to the model
    but can no longer close the conversation block or fake a turn. Lone surrogates become
    U+FFFD; text smuggled in tag characters or variation selectors is decoded onto its own line.
    """
    # Each rule below runs only where the characters it needs are present (the result is the
    # same: a rule cannot match without them), so plain ASCII prose skips most of them.
    if not text.isascii():  # surrogates and smuggled text are never ASCII: skip the scans
        text = _SURROGATE.sub("\ufffd", text)
        hidden = _smuggled(text)
        if hidden:
            text = "\n".join([text, *hidden])
        # ASCII is NFKC-stable and has no invisible character, stray mark or Greek letter.
        text = unicodedata.normalize("NFKC", text)
        text = _INVISIBLE.sub("", text)
        text = _STRAY_MARKS.sub("", text)
        if _GREEK_OR_CYRILLIC.search(text):
            text = _WORD.sub(_fold_lookalikes, text)
    text = _CONTROL.sub(" ", text)
    # Every line break becomes "\n", so the role-line and blank-line rules below see them all.
    text = _LINE_BREAK.sub("\n", text)
    if "<" in text:
        text = _MARKERS.sub(lambda m: f"({m.group(2).upper()}{m.group(3).upper()})", text)
    if "[" in text:
        text = _INST.sub(lambda m: f"({m.group(1)}INST)", text)
    if "<" in text:
        text = _SPECIAL_TOKEN.sub(lambda m: f"(|{m.group(1)}|)", text)
        text = _LLAMA2_TOKEN.sub(lambda m: m.group(0).replace("<", "(").replace(">", ")"), text)
    if ":" in text:
        text = _ROLE_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)} (quoted):", text)
    if "\n" in text:
        # A blank line separates turns in the template; in a message it could open a fake turn.
        # One pass must catch "\n\n \n\n" whole, or a second neutralize would change it again.
        text = _BLANK_LINES.sub("\n", text)
    return text.strip()


# Message fields other than ``content`` that carry the model's words: judged with the content.
_EXTRA_KEYS = ("reasoning_content", "tool_calls", "function_call", "refusal")


# Framework message classes the adapters taught the core to read, by the dotted name of a base
# class ("langchain_core.messages.base.BaseMessage") -> "module:function" returning the core's
# dict form. Names, not classes: the core imports no framework, and a reader loads on first use.
_READERS: dict[str, str] = {}


def register_message_reader(base: str, reader: str) -> None:
    """Let ``check()`` take a framework's message objects: instances of the class named ``base``
    (or a subclass) are converted by ``reader`` (``"module:function"``) into
    ``{"role": ..., "content": ...}``. Each adapter registers its own when it is imported.
    """
    _READERS[base] = reader


def _read(message: Any) -> Mapping[str, Any] | None:
    for klass in type(message).__mro__:
        reader = _READERS.get(f"{klass.__module__}.{klass.__qualname__}")
        if reader is not None:
            module, _, function = reader.partition(":")
            converted: Mapping[str, Any] = getattr(importlib.import_module(module), function)(
                message
            )
            return converted
    return None


def _message_fields(message: Any, index: int) -> tuple[str, list[Any]]:
    """The message's role, and everything in it that is judged (content first)."""
    where = f"message {index}"
    plain = type(message) is dict  # the common case: no ABC checks, no reader lookup
    if not plain and not isinstance(message, Mapping | tuple):
        converted = _read(message)
        message = message if converted is None else converted
    if plain or isinstance(message, Mapping):
        if "role" not in message:
            raise ValueError(f"{where} has no 'role' key: pass {{'role': 'user', 'content': ...}}")
        extras = [message[k] for k in _EXTRA_KEYS if message.get(k)]
        return str(message["role"]), [message.get("content"), *extras]
    if isinstance(message, tuple) and len(message) == 2:
        return str(message[0]), [message[1]]
    role = getattr(message, "role", None)
    role = getattr(role, "value", role)  # a str enum (LlamaIndex's MessageRole) by its value
    blocks = getattr(message, "blocks", None)
    if role is not None and isinstance(blocks, list):
        # A message of content blocks (LlamaIndex's ChatMessage): its ``content`` is the text
        # blocks only; every block (images included) is what the model sees.
        kwargs = getattr(message, "additional_kwargs", None)
        kwargs = kwargs if isinstance(kwargs, Mapping) else {}
        return str(role), [blocks, *(kwargs[k] for k in _EXTRA_KEYS if kwargs.get(k))]
    if role is not None and hasattr(message, "content"):
        # Other message objects with ``role`` and ``content`` attributes (the same fields as
        # attributes or in ``additional_kwargs``); the adapters register readers for theirs.
        kwargs = getattr(message, "additional_kwargs", None)
        kwargs = kwargs if isinstance(kwargs, Mapping) else {}
        extras = [getattr(message, k, None) or kwargs.get(k) for k in _EXTRA_KEYS]
        return str(role), [message.content, *(e for e in extras if e)]
    raise TypeError(
        f"{where}: expected a dict with 'role' and 'content', a (role, content) pair or a "
        f"message object, got {type(message).__name__}"
    )


def _judged(parts: list[Any], index: int) -> tuple[str, tuple[MediaPart, ...], str | None]:
    """The message's judged text and media, or the reason it cannot be judged."""
    try:
        judged = judged_text(parts if len(parts) > 1 else parts[0])
    except UnjudgeableContent as exc:
        return "", (), f"message {index}: {exc}"
    return judged.text, judged.media, None


def normalize_conversation(conversation: Any) -> Conversation:
    """Normalise a str or a message list to alternating turns; raise on bad input.

    ``"hi"`` is one User turn. A list keeps user and assistant messages, drops system/tool ones,
    merges neighbours of one role, and must end with a non-empty turn to judge.
    """
    if isinstance(conversation, str):
        conversation = [{"role": "user", "content": conversation}]
    elif isinstance(conversation, Mapping):
        conversation = [conversation]
    elif not isinstance(conversation, Sequence) or isinstance(conversation, bytes | bytearray):
        raise TypeError(
            "check() takes a str or a list of messages "
            f"({{'role': 'user'|'assistant', 'content': str}}), got {type(conversation).__name__}"
        )
    turns: list[Turn] = []
    for index, message in enumerate(conversation):
        raw_role, parts = _message_fields(message, index)
        key = raw_role.lower()
        if key in _FRAMEWORK_ROLES:
            raise ValueError(
                f"message {index} has role {raw_role!r}, LangChain's spelling: pass 'user' or "
                "'assistant' (or LangChain message objects, which langchain_llamashield converts)"
            )
        if key not in _ROLE_ALIASES:
            raise ValueError(
                f"message {index} has role {raw_role!r}; use 'user', 'assistant' or 'system'"
            )
        role = _ROLE_ALIASES[key]
        if role is None:
            continue
        raw_text, media, problem = _judged(parts, index)
        text = neutralize(raw_text)
        if turns and turns[-1].role == role:
            last = turns[-1]
            # Join non-empty texts only: an empty message must not leave a stray or blank line.
            joined = "\n".join(t for t in (last.content, text) if t)
            turns[-1] = Turn(
                role, joined, not joined and bool(media or last.media),
                last.media + media, last.problem or problem,
            )  # fmt: skip
        else:
            turns.append(Turn(role, text, bool(media) and not text, media, problem))
    if not turns:
        raise ValueError("nothing to judge: the conversation has no user or assistant message")
    if turns[0].role == "agent":
        # The template starts with a User turn; an agent-first history gets an empty one.
        turns.insert(0, Turn("user", ""))
    return tuple(turns)
