"""Turn what flows through LangChain (inputs, outputs, stream chunks) into what the core judges.

Pure: no guard calls. This module only converts LangChain types (messages, documents, prompt
values, tool calls, artifacts) into plain data; ``llamashield._content.judged_text`` alone decides
which text of that data Llama Guard reads, and the guard's media policy decides the images.

- ``plain(value)``: LangChain objects as plain str/dict/list content (nothing dropped).
- ``message_dict(message)``: a message as the core's ``{"role", "content"}`` dict; its content
  carries every part a model reads: content blocks, its name, reasoning, function and tool
  calls, a tool's artifact.
- ``input_conversation(value, role=, key=)``: the conversation an input stands for, ending with
  the turn to judge (every value of a dict input, nested ones included).
- ``output_message(value, key=)`` / ``output_text(value, key=)``: an output (or a stream chunk)
  as the Agent's message / as its judged text.

Example::

    input_conversation({"messages": [("user", "hi")], "lang": "English"})
    # [{'role': 'user', 'content': ['hi']}, {'role': 'user', 'content': 'English'}]
    output_text(AIMessage("Hello", tool_calls=[...]))       # 'Hello\\nsearch\\n{"q": "x"}'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, ChatMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableSequence

from llamashield.integration import JudgedContent, UnjudgeableContent, judged_text

__all__ = [
    "answer_conversation",
    "has_content",
    "input_conversation",
    "is_message_list",
    "judged",
    "message_dict",
    "message_parts",
    "message_text",
    "output_message",
    "output_text",
    "plain",
    "readable_text",
    "speaker",
    "template_history",
    "to_judge",
]

Role = Literal["user", "agent"]

# Message types as the core reads roles. Tool and function results enter the conversation like
# retrieved documents: the User's turn. System messages are the developer's: the core drops them.
_SPEAKERS = {
    "human": "user",
    "user": "user",
    "tool": "user",
    "function": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
# additional_kwargs a model reads back, or a consumer shows, besides the content.
_EXTRA_KEYS = ("reasoning_content", "reasoning", "thinking", "function_call", "refusal")


def speaker(message: BaseMessage) -> str:
    """``"user"``, ``"assistant"`` or ``"system"``: how the core must read ``message``'s role.

    ``ChatMessage(role="user")`` is a user message like ``HumanMessage``; tool results are the
    User's turn; an unknown role is read as the user's, so it is judged rather than dropped.
    """
    kind = message.role if isinstance(message, ChatMessage) else message.type
    kind = kind.lower().removesuffix("messagechunk").removesuffix("chunk")
    return _SPEAKERS.get(kind, "user")


def _tool_call(name: Any, args: Any) -> dict[str, Any]:
    return {"type": "tool_call", "name": name or "", "args": args if args is not None else ""}


def _field(message: BaseMessage, name: str) -> Any:
    """``getattr(message, name, None)`` without pydantic's slow miss: most message classes lack
    most of these fields (``artifact`` is a ToolMessage's), and a miss raises inside pydantic.
    Fields, extra fields (messages allow them) and class-level properties are all read."""
    found = message.__dict__.get(name, _MISSING)
    if found is not _MISSING:
        return found
    extra = message.__pydantic_extra__
    if extra and name in extra:
        return extra[name]
    return getattr(message, name, None) if hasattr(type(message), name) else None


_MISSING = object()


def message_parts(message: BaseMessage, *, tool_calls: bool = True) -> list[Any]:
    """Everything of ``message`` a model or a consumer reads, as content parts.

    ``tool_calls=False`` leaves out its parsed tool calls (for a caller that judges each call
    on its own); invalid ones, which no tool runs, are kept with the text.
    """
    parts: list[Any] = [plain(message.content)]
    if message.name:
        # Sent to the model with the message (OpenAI's participant name; a tool's name).
        parts.append(message.name)
    extra = message.additional_kwargs
    # The known keys first (in the order a model writes them), then any other: a provider's
    # field we do not know yet is judged by its JSON, never skipped.
    others = sorted(k for k in extra if k not in _EXTRA_KEYS and k != "tool_calls")
    for key in (*_EXTRA_KEYS, *others):
        value = extra.get(key)
        if key == "function_call" and isinstance(value, Mapping):
            parts.append(_tool_call(value.get("name"), value.get("arguments")))
        elif key == "audio" and isinstance(value, Mapping):
            # An audio answer (OpenAI): its transcript is judged, the audio meets the media
            # policy.
            parts.append({**value, "type": "audio"})
        elif value not in (None, "", [], {}):
            parts.append(plain(value))
    parsed = list(_field(message, "tool_calls") or ())
    calls = list(parsed) if tool_calls else []
    calls += list(_field(message, "invalid_tool_calls") or ())
    if not parsed:
        # Stream chunks carry arguments as text fragments before they parse; a provider's raw
        # tool calls may sit in additional_kwargs only.
        calls += list(_field(message, "tool_call_chunks") or ())
        calls += list(extra.get("tool_calls") or ())
    for call in calls:
        if isinstance(call, Mapping) and "function" in call:
            function = call.get("function") or {}
            parts.append(_tool_call(function.get("name"), function.get("arguments")))
        elif isinstance(call, Mapping):
            parts.append(_tool_call(call.get("name"), call.get("args")))
        else:
            parts.append(plain(call))
    artifact = _field(message, "artifact")
    if artifact is not None:
        # content_and_artifact tools: the artifact travels with the message (to the model in
        # some integrations, to the consumer always).
        parts.append(plain(artifact))
    return parts


def plain(value: Any) -> Any:
    """``value`` with LangChain objects turned into plain content; anything else as it is.

    Messages become their parts, documents their text and metadata, prompt values their
    messages; dicts and lists are converted item by item. The core judges the rest (pydantic
    models, dataclasses, unknown dicts as JSON).
    """
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, BaseMessage):
        return message_parts(value)
    if isinstance(value, Document):
        return document_content(value)
    if isinstance(value, PromptValue):
        return [message_parts(m) for m in value.to_messages()]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def document_content(document: Document, *, without: str | None = None) -> Any:
    """What a document brings to a prompt: its text, then its metadata (read as JSON), which
    reaches the model wherever a chain formats documents with it (a ``document_prompt`` such as
    ``"{title}: {page_content}"``, citations) and always reaches the retriever's consumer.

    ``without`` leaves out one metadata key (the verdict a filter wrote there itself).
    """
    metadata = {key: item for key, item in document.metadata.items() if key != without}
    return [document.page_content, plain(metadata)] if metadata else document.page_content


def message_dict(message: BaseMessage, role: str | None = None) -> dict[str, Any]:
    """``message`` as the core reads it: its role (``role`` overrides it) and every part."""
    return {"role": role or speaker(message), "content": message_parts(message)}


def message_text(message: Any) -> str:
    """The text Llama Guard reads in ``message`` (or in any value), tool calls included."""
    return judged(message).text


def judged(value: Any) -> JudgedContent:
    """The core's reading of ``value`` (``judged_text`` after converting LangChain objects)."""
    return judged_text(plain(value))


def readable_text(value: Any) -> str:
    """The judged text of ``value`` for messages and payloads; never raises (a value the core
    cannot read is named by its type)."""
    try:
        return judged(value).text
    except UnjudgeableContent:
        return f"<unreadable {type(value).__name__}>"


def to_judge(content: Any) -> Any:
    """Plain ``content`` as the core should receive it, or None when it has nothing to judge.

    It is read once, here: content without media goes on as its judged text, the very text the
    core would read in it, so the core does not walk it again. Content with media goes on as it
    is (the guard's media policy decides it), and so does content the core cannot read (its
    error policy decides it: unjudgeable content is never taken for empty).

    Example::

        to_judge(["hi", {"n": 1}])   # 'hi\n{"n": 1}'
        to_judge(["", " "])          # None
    """
    try:
        reading = judged_text(content)
    except UnjudgeableContent:
        return content
    if reading.media:
        return content
    return reading.text if reading.text.strip() else None


def has_content(value: Any) -> bool:
    """Whether ``value`` has anything to judge: text, media, or a shape only the guard's error
    policy can decide (unjudgeable content is never taken for empty)."""
    try:
        reading = judged(value)
    except UnjudgeableContent:
        return True
    return bool(reading.text.strip() or reading.media)


_MESSAGE_TYPES = frozenset(_SPEAKERS) | {"chat", "ai", "human", "AIMessageChunk"}


def _looks_like_message(item: Any) -> bool:
    if isinstance(item, BaseMessage):
        return True
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0].lower() in _SPEAKERS or item[0].lower() == "placeholder"
    if isinstance(item, Mapping):
        role = item.get("role", item.get("type"))
        return isinstance(role, str) and role.lower() in _MESSAGE_TYPES and "content" in item
    return False


def is_message_list(value: Any) -> bool:
    """True for a non-empty list of messages in any form LangChain accepts (message objects,
    ``(role, content)`` tuples, ``{"role": ..., "content": ...}`` dicts)."""
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str | bytes)
        and bool(value)
        and all(_looks_like_message(m) for m in value)
    )


def _speaker_of(role: Role) -> str:
    return "assistant" if role == "agent" else "user"


def _messages(value: Sequence[Any]) -> list[dict[str, Any]]:
    try:
        messages = convert_to_messages(value)
    except (ValueError, TypeError, NotImplementedError):
        # A shape LangChain itself would refuse: judge all of it as the user's words.
        return [{"role": "user", "content": plain(list(value))}]
    return [message_dict(m) for m in messages]


def input_conversation(
    value: Any,
    *,
    role: Role = "user",
    key: str | None = None,
    history: Collection[str] = (),
) -> list[Any]:
    """The conversation ``value`` stands for, ending with the turn to judge.

    A message list (in any form) or a ``PromptValue`` is the conversation as it is (the core
    judges system and tool messages as the User's turn). A dict gives ``value[key]`` when
    ``key`` is set, else its history (the message lists of the keys named in ``history``: the
    variables a prompt template places as messages) followed by one turn of ``role`` holding
    EVERY other value (strings, lists, nested dicts, documents, numbers): what fills a prompt
    template is judged whatever its shape. A message-list value under any other key is text a
    template pastes into a message, whatever its entries' roles claim: each entry is judged as
    the User's. Anything else is one turn of ``role``. Raises ``ValueError`` when there is
    nothing to judge.
    """
    if isinstance(value, Mapping):
        if key is not None:
            if key not in value:
                raise ValueError(f"input has no key {key!r} to judge (keys: {sorted(value)})")
            # The history the template places as messages reaches the model whatever key is
            # picked: it is judged before the picked value, turn by turn.
            before = [
                turn
                for name in history
                if name != key and value.get(name) is not None
                for turn in input_conversation(value[name], role=role)
            ]
            return [*before, *input_conversation(value[key], role=role)]
        messages: list[Any] = []
        contents: list[Any] = []
        for name, item in value.items():
            if isinstance(item, PromptValue) or is_message_list(item):
                if name in history:
                    messages.extend(input_conversation(item, role=role))
                else:
                    messages.extend(_as_user_turns(item))
            elif isinstance(item, BaseMessage):
                messages.append(message_dict(item) if name in history else _user_turn(item))
            elif item is not None:
                contents.append(plain(item))
        content = to_judge(contents)
        turn = {"role": _speaker_of(role), "content": content}
        conversation = messages + ([turn] if content is not None else [])
        if not conversation:
            raise ValueError(
                "nothing to judge in this dict input: all its values are empty; "
                "pass input_key= to name the text, or turn the input check off"
            )
        return conversation
    if isinstance(value, PromptValue):
        return [message_dict(m) for m in value.to_messages()]
    if isinstance(value, BaseMessage):
        return [message_dict(value, _speaker_of(role))]
    if is_message_list(value):
        return _messages(value)
    content = to_judge(plain(value))
    if content is None:
        raise ValueError(
            f"nothing to judge in a {type(value).__name__} input; pass text, messages, a "
            "PromptValue or a dict with string values (input_key= picks one)"
        )
    return [{"role": _speaker_of(role), "content": content}]


def _user_turn(message: BaseMessage) -> dict[str, Any]:
    return {"role": "user", "content": message_parts(message)}


def _as_user_turns(value: Any) -> list[dict[str, Any]]:
    """Each entry of a message list (or prompt value) as a User turn of its own."""
    return [{**m, "role": "user"} for m in input_conversation(value)]


def template_history(runnable: Any) -> frozenset[str]:
    """The input variables that ``runnable``'s leading prompt template places as messages
    (``MessagesPlaceholder``): the only dict values read as a conversation with its roles."""
    head = runnable.first if isinstance(runnable, RunnableSequence) else runnable
    if not isinstance(head, ChatPromptTemplate):
        return frozenset()
    return frozenset(m.variable_name for m in head.messages if isinstance(m, MessagesPlaceholder))


def _picked(value: Any, key: str | None) -> Any:
    if key is not None and isinstance(value, Mapping):
        if key not in value:
            raise ValueError(f"output has no key {key!r} to judge (keys: {sorted(value)})")
        return value[key]
    return value


def output_message(value: Any, *, key: str | None = None) -> dict[str, Any] | None:
    """An output as the Agent's message (every part of it), or None when it has nothing to
    judge. ``key`` picks one entry of a dict output (e.g. ``"answer"`` of a retrieval chain)."""
    content = to_judge(plain(_picked(value, key)))
    return None if content is None else {"role": "assistant", "content": content}


def output_text(value: Any, *, key: str | None = None) -> str:
    """The judged text of an output or a stream chunk (``key`` as in ``output_message``).

    Raises ``UnjudgeableContent`` for a chunk with no text or JSON form: a stream cannot
    release what it cannot judge.
    """
    return judged(_picked(value, key)).text


def answer_conversation(context: Sequence[Any], answer: Any) -> list[Any]:
    """``context`` followed by ``answer`` (a text or an ``output_message``) as the Agent turn."""
    if isinstance(answer, Mapping):
        return [*context, answer]
    return [*context, {"role": "assistant", "content": answer}]
