"""Turn what users pass (a string, chat messages, content parts) into a judged conversation.

Pure and I/O-free. The result is a tuple of ``Turn``s alternating User/Agent, ending with the
turn being judged. Every message is judged: assistant messages as the Agent's turn; user,
system, developer, tool and function messages as the User's (whatever reaches the model from
outside the model is the User side of the conversation, as llama-stack reads a leading system
message). Consecutive turns of one role are merged (Llama Guard's template requires
alternation). What a message's content means as text is ``_content.judged_text``'s job, shared
with the adapters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from llamashield import _publish
from llamashield._content import MediaPart, UnjudgeableContent, fields_of, judged_text
from llamashield._unicode import reveal

__all__ = [
    "Conversation",
    "MessageReader",
    "Role",
    "Turn",
    "merge_turns",
    "neutralize",
    "normalize_conversation",
    "read_messages",
    "register_message_reader",
]

logger = logging.getLogger("llamashield")

Role = Literal["user", "agent"]

_ROLE_ALIASES: dict[str, Role] = {
    "user": "user",
    "assistant": "agent",
    "agent": "agent",
    "model": "agent",
    # The developer's instructions, tool and function results: text the model reads that it
    # did not write. A client that sends the whole conversation can forge any of them.
    "system": "user",
    "developer": "user",
    "tool": "user",
    "function": "user",
}
# LangChain's role spellings: its adapter converts its messages at its boundary
# (``register_message_reader``), so the core names the roles it takes instead.
_FRAMEWORK_ROLES = frozenset({"human", "ai"})

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile("\r\n?|[\u2028\u2029]")
# Structure of the Llama Guard prompts that message text must never reproduce. The
# whitespace runs are possessive (``\s*+``): two plain ``\s*`` around an optional ``/`` try
# every split of a long run, quadratic in it ("<" and 100,000 spaces: minutes, before any
# deadline applies); possessive, the same matches in linear time.
_MARKERS = re.compile(
    r"<\s*+(/?)\s*+(BEGIN|END)(\s+(?:UNSAFE\s+CONTENT\s+CATEGORIES|CONVERSATION))\s*>",
    re.IGNORECASE,
)
_INST = re.compile(r"\[\s*+(/?)\s*+INST\s*\]", re.IGNORECASE)
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


def neutralize(text: str) -> str:
    """Make message text inert inside a Llama Guard prompt.

    NFKC folds homoglyph forms (fullwidth ``＜``) into what the tokenizer would see anyway;
    invisible and control characters go; prompt markers, ``[INST]``, special tokens and
    ``User:``/``Agent:`` at a line start are broken up so the text stays readable to the model
    but can no longer close the conversation block or fake a turn. Lone surrogates become
    U+FFFD; text smuggled in tag characters or variation selectors is decoded onto its own line;
    look-alike letters in words that mix scripts are folded to Latin, and Latin letters drawn as
    small capitals, negative squared letters or regional indicators to ASCII (``_unicode.reveal``).
    """
    # Each rule below runs only where the characters it needs are present (the result is the
    # same: a rule cannot match without them), so plain ASCII prose skips most of them.
    if not text.isascii():
        # ASCII is NFKC-stable and has no surrogate, invisible character, stray mark or
        # letter of another script: all of the Unicode work is for other text only.
        text = reveal(text)
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


# Message fields other than ``content`` that the model reads: judged with the content. ``name``
# (OpenAI's participant name, a tool or function message's tool name) is sent to the model.
_EXTRA_KEYS = ("reasoning_content", "tool_calls", "function_call", "refusal", "name")


MessageReader = Callable[[Any], Mapping[str, Any]]
"""Turns a framework's message object into the core's ``{"role": ..., "content": ...}``."""

# Framework message classes the adapters taught the core to read, by class. A message's reader
# is its class's or the nearest base class's (MRO order), found once per class.
_READERS: dict[type, MessageReader] = {}
_FOUND: dict[type, MessageReader | None] = {}


def register_message_reader(base: type, reader: MessageReader) -> None:
    """Let ``check()`` take a framework's message objects: instances of ``base`` (or of a
    subclass) are converted by ``reader`` into ``{"role": ..., "content": ...}``. Each adapter
    registers its own when it is imported; the core imports no framework.

    Example::

        register_message_reader(ChatMessage, lambda m: {"role": m.role, "content": m.blocks})
    """
    if not isinstance(base, type):
        raise TypeError(f"register_message_reader takes a class, got {base!r}")
    if not callable(reader):
        raise TypeError(f"register_message_reader takes a callable reader, got {reader!r}")
    _READERS[base] = reader
    _FOUND.clear()  # a class looked up before may now have a nearer reader


def _reader_for(kind: type) -> MessageReader | None:
    try:
        return _FOUND[kind]
    except KeyError:
        found = next((_READERS[k] for k in kind.__mro__ if k in _READERS), None)
        if found is None and _load_adapters():
            return _reader_for(kind)  # an adapter just registered its readers
        _FOUND[kind] = found
        return found


_adapters_loaded = False


def _load_adapters() -> bool:
    """Import the installed adapters once (entry points ``llamashield.adapters``), so a
    framework's messages are read without the user importing its adapter first; True if this
    call loaded them."""
    global _adapters_loaded
    if _adapters_loaded:
        return False
    _adapters_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group="llamashield.adapters"):
        try:
            entry.load()
        except Exception:  # a broken adapter install: its messages stay unread (judged as JSON)
            logger.debug("llamashield: adapter %s failed to load", entry.value, exc_info=True)
    return True


def _message_fields(message: Any, index: int) -> tuple[str, list[Any]]:
    """The message's role, and everything in it that is judged (content first)."""
    where = f"message {index}"
    plain = type(message) is dict  # the common case: no ABC checks, no reader lookup
    if not plain and not isinstance(message, Mapping | tuple):
        reader = _reader_for(type(message))
        if reader is not None:
            message = reader(message)
    if plain or isinstance(message, Mapping):
        if "role" not in message:
            raise ValueError(f"{where} has no 'role' key: pass {{'role': 'user', 'content': ...}}")
        extras = [message[k] for k in _EXTRA_KEYS if message.get(k)]
        return str(message["role"]), [message.get("content"), *extras]
    if isinstance(message, tuple) and len(message) == 2:
        return str(message[0]), [message[1]]
    role = getattr(message, "role", None)
    if role is not None:
        return _unregistered(message, role)
    raise TypeError(
        f"{where}: expected a dict with 'role' and 'content', a (role, content) pair or a "
        f"message object, got {type(message).__name__}"
    )


def _unregistered(message: Any, role: Any) -> tuple[str, list[Any]]:
    """A message object of a class no adapter registered, with a ``role``: judged by its
    fields (a pydantic model's or a dataclass's, else its public attributes, with ``content``
    and the fields of ``_EXTRA_KEYS`` read as attributes too), nothing skipped: content blocks,
    images among them, stay parts the media policy decides. Content comes first, metadata
    (mappings such as ``additional_kwargs``) last."""
    role = role.value if isinstance(role, Enum) else role  # a str enum by its value
    fields = dict(fields_of(message) or _attributes(message))
    for key in ("content", *_EXTRA_KEYS):  # properties and class attributes too
        if key not in fields:
            fields[key] = getattr(message, key, None)
    fields.pop("role", None)
    judged = sorted(
        ((key, value) for key, value in fields.items() if not _empty(value)),
        key=lambda item: 0 if item[0] == "content" else 2 if isinstance(item[1], Mapping) else 1,
    )
    if not judged:
        raise TypeError(
            f"a {type(message).__name__} has a role but nothing to judge: register a reader for "
            "it (llamashield.integration.register_message_reader) or pass dicts"
        )
    return str(role), [value for _, value in judged]


def _attributes(message: Any) -> dict[str, Any]:
    """An object's public instance attributes (none for an object without ``__dict__``)."""
    found = getattr(message, "__dict__", None)
    return {k: v for k, v in found.items() if not k.startswith("_")} if found else {}


def _empty(value: Any) -> bool:
    """A field that holds nothing to judge: None, or an empty str, list, tuple or dict."""
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def _judged(parts: list[Any], index: int) -> tuple[str, tuple[MediaPart, ...], str | None]:
    """The message's judged text and media, or the reason it cannot be judged."""
    try:
        judged = judged_text(parts if len(parts) > 1 else parts[0])
    except UnjudgeableContent as exc:
        return "", (), f"message {index}: {exc}"
    return judged.text, judged.media, None


def read_messages(conversation: Any, max_chars: int | None = None) -> list[Turn]:
    """One ``Turn`` per message of ``conversation`` (a str, one message, or a list), in order,
    unmerged: the unit conversation judging works on. Raises on malformed input.

    Past ``max_chars`` characters of text as received, the rest is not neutralised (a message
    of any size would cost its whole Unicode pass first): those turns carry the reason as
    their ``problem``, and the guard refuses the conversation before any I/O.
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
    received = 0
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
                f"message {index} has role {raw_role!r}; use 'user', 'assistant', 'system' "
                "or 'tool'"
            )
        raw_text, media, problem = _judged(parts, index)
        received += len(raw_text)
        if max_chars is not None and received > max_chars:
            over = f"the conversation has more than {max_chars:,} characters (max_chars)"
            turns.append(Turn(_ROLE_ALIASES[key], "", False, media, problem or over))
            continue
        text = neutralize(raw_text)
        turns.append(Turn(_ROLE_ALIASES[key], text, bool(media) and not text, media, problem))
    return turns


def merge_turns(messages: Sequence[Turn]) -> Conversation:
    """``read_messages``'s turns as Llama Guard reads them: neighbours of one role merged, a
    User turn first. Raises ``ValueError`` when there is nothing to judge."""
    turns: list[Turn] = []
    for turn in messages:
        if turns and turns[-1].role == turn.role:
            last = turns[-1]
            # Join non-empty texts only: an empty message must not leave a stray or blank line.
            joined = "\n".join(t for t in (last.content, turn.content) if t)
            turns[-1] = Turn(
                turn.role, joined, not joined and bool(turn.media or last.media),
                last.media + turn.media, last.problem or turn.problem,
            )  # fmt: skip
        else:
            turns.append(turn)
    if not turns:
        raise ValueError("nothing to judge: the conversation has no message")
    if turns[0].role == "agent":
        # The template starts with a User turn; an agent-first history gets an empty one.
        turns.insert(0, Turn("user", ""))
    return tuple(turns)


def normalize_conversation(conversation: Any, max_chars: int | None = None) -> Conversation:
    """Normalise a str or a message list to alternating turns; raise on bad input.

    ``"hi"`` is one User turn. A list keeps every message (system, developer and tool ones as
    the User's), merges neighbours of one role, and ends with the turn to judge.
    """
    return merge_turns(read_messages(conversation, max_chars))


_publish(globals())  # the public names here report ``llamashield`` as their module
