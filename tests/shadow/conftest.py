"""The adapters' test fakes (a tool-calling chat model, LlamaIndex helpers), shared here."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("langchain", "llamaindex"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))
