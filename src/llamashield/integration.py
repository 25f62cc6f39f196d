"""The adapter interface: what a framework integration uses from the core, and nothing else.

The LangChain and LlamaIndex adapters import from here only (a test walks their imports), so
the core's private modules can change without breaking them; a third-party integration can
rely on the same names. ``INTERFACE_VERSION`` changes when a name here changes meaning.

- **Plans** (sans-I/O): a guarded behaviour is a generator yielding steps, driven by
  ``run_plan``/``arun_plan`` (a value) or ``stream_plan``/``astream_plan`` (the items it
  emits), so it is written once for sync and async: ``Judge`` (conversations, last turn each:
  ``list[Verdict]``; ``stage=`` labels their spans and metrics), ``JudgeConversation`` (every
  turn that came from outside: one ``Verdict``), ``Call`` (the wrapped component), ``Start`` /
  ``Await`` (a step in the background), ``Stream`` / ``Next`` (open a stream, moderated window
  by window with ``StreamModeration``, and read it; ``END`` when done; ``relay`` emits it all;
  ``Close`` gives it up early),
  ``Emit`` (an item for the consumer). Whatever a plan opened is closed when it ends.
- **The unsafe outcome**: ``unsafe_outcome`` / ``unsafe_stream_outcome`` apply a parsed
  ``UnsafeAction`` to a ``Blocked`` payload (raise, or the component's handler per mode).
- **Observability**: ``stage_scope(stage)`` labels the checks made inside it (for components
  that call the guard directly); each driven plan is a span of its component.
- **Content**: ``judged_text`` (the one mapping from any content to the text Llama Guard
  reads), ``JudgedContent``, ``UnjudgeableContent``; ``register_message_reader`` teaches
  ``LlamaGuard.check`` a framework's message class.
- **Unsafe outcomes**: ``Blocked`` (the reroute payload), ``UnsafeAction`` and
  ``parse_on_unsafe`` (the one ``on_unsafe`` vocabulary), ``format_refusal``,
  ``DEFAULT_REFUSAL``, ``verdict_metadata`` and ``METADATA_KEY`` (the JSON record attached to
  results).

Example::

    from llamashield.integration import Call, JudgeConversation, Plan, run_plan

    def chat_plan(messages) -> Plan[str]:
        verdict = yield JudgeConversation(messages)
        if not verdict.safe:
            return "refused"
        return (yield Call(model.invoke, model.ainvoke, (messages,)))

    run_plan(chat_plan(messages), guard)
"""

from __future__ import annotations

from llamashield._blocked import (
    DEFAULT_REFUSAL,
    METADATA_KEY,
    Blocked,
    UnsafeAction,
    format_refusal,
    parse_on_unsafe,
    verdict_metadata,
)
from llamashield._content import JudgedContent, UnjudgeableContent, judged_text
from llamashield._conversation import register_message_reader
from llamashield._outcome import Handlers, unsafe_outcome, unsafe_stream_outcome
from llamashield._plan import arun_plan, astream_plan, run_plan, stream_plan
from llamashield._public import relabel
from llamashield._steps import (
    END,
    Await,
    Call,
    Close,
    Emit,
    Judge,
    JudgeConversation,
    Next,
    Pending,
    Plan,
    Start,
    Step,
    Stream,
    StreamModeration,
    StreamSource,
    relay,
)
from llamashield._telemetry import stage_scope

__all__ = [
    "DEFAULT_REFUSAL",
    "END",
    "INTERFACE_VERSION",
    "METADATA_KEY",
    "Await",
    "Blocked",
    "Call",
    "Close",
    "Emit",
    "Handlers",
    "Judge",
    "JudgeConversation",
    "JudgedContent",
    "Next",
    "Pending",
    "Plan",
    "Start",
    "Step",
    "Stream",
    "StreamModeration",
    "StreamSource",
    "UnjudgeableContent",
    "UnsafeAction",
    "arun_plan",
    "astream_plan",
    "format_refusal",
    "judged_text",
    "parse_on_unsafe",
    "register_message_reader",
    "relay",
    "run_plan",
    "stage_scope",
    "stream_plan",
    "unsafe_outcome",
    "unsafe_stream_outcome",
    "verdict_metadata",
]

INTERFACE_VERSION = 2

relabel(__name__, __all__, globals())  # ``llamashield.integration.Call`` in reprs
