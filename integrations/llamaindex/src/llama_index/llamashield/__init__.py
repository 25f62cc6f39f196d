"""Llama Guard shields for LlamaIndex: guarded engines, node filters, tools, workflows, audit.

Example::

    from llama_index.llamashield import GuardedQueryEngine, LlamaGuardNodePostprocessor
    from llamashield import LlamaGuard

    guard = LlamaGuard()
    engine = GuardedQueryEngine(
        index.as_query_engine(node_postprocessors=[LlamaGuardNodePostprocessor(guard)]),
        guard,
        on_unsafe="refuse",
    )
"""

from llama_index.core.base.llms.types import ChatMessage
from llama_index.llamashield._inputs import message_dict
from llama_index.llamashield.chat_engine import GuardedChatEngine
from llama_index.llamashield.instrumentation import AuditRecord, LlamaGuardEventHandler
from llama_index.llamashield.postprocessor import LlamaGuardNodePostprocessor
from llama_index.llamashield.query_engine import GuardedQueryEngine
from llama_index.llamashield.tools import GuardedFunctionTool, GuardedTool, guard_tool
from llama_index.llamashield.transform import LlamaGuardTransform
from llama_index.llamashield.workflow import (
    Blocked,
    GuardedAgent,
    GuardedWorkflow,
    SafeInputEvent,
    guard_agent,
)

from llamashield.integration import register_message_reader

# ``guard.check([ChatMessage(...)])`` works: the core reads LlamaIndex messages through this
# adapter's converter, without knowing LlamaIndex itself.
register_message_reader(ChatMessage, message_dict)

__all__ = [
    "AuditRecord",
    "Blocked",
    "GuardedAgent",
    "GuardedChatEngine",
    "GuardedFunctionTool",
    "GuardedQueryEngine",
    "GuardedTool",
    "GuardedWorkflow",
    "LlamaGuardEventHandler",
    "LlamaGuardNodePostprocessor",
    "LlamaGuardTransform",
    "SafeInputEvent",
    "guard_agent",
    "guard_tool",
]
