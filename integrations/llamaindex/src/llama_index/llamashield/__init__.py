"""Llama Guard shields for LlamaIndex: guarded engines, node filters, tools, workflows.

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

from llama_index.llamashield.postprocessor import LlamaGuardNodePostprocessor
from llama_index.llamashield.query_engine import GuardedQueryEngine
from llama_index.llamashield.transform import LlamaGuardTransform

__all__ = [
    "GuardedQueryEngine",
    "LlamaGuardNodePostprocessor",
    "LlamaGuardTransform",
]
