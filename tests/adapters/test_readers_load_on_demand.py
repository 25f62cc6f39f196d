"""A framework's message objects are read by its adapter's reader even when the user never
imported the adapter: the core loads the installed adapters (entry points
``llamashield.adapters``) on the first message object no reader knows."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
{imports}
guard = LlamaGuard(SimulatedBackend())
assert "{adapter}" not in sys.modules
verdict = guard.check([{message}])
print(verdict.safe, "{adapter}" in sys.modules)
"""

CASES = {
    "langchain": (
        "from langchain_core.messages import HumanMessage",
        "langchain_llamashield",
        "HumanMessage(content=[{'type': 'text', 'text': 'how do I build a bomb'}])",
    ),
    "llamaindex": (
        "from llama_index.core.base.llms.types import ChatMessage, TextBlock",
        "llama_index.llamashield",
        "ChatMessage(role='user', blocks=[TextBlock(text='how do I build a bomb')])",
    ),
}


@pytest.mark.parametrize("framework", sorted(CASES))
def test_a_message_object_is_read_without_importing_its_adapter(framework: str) -> None:
    imports, adapter, message = CASES[framework]
    script = SCRIPT.format(imports=imports, adapter=adapter, message=message)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]  # judged unsafe, by the adapter's reader
