"""What the serve tests share besides fixtures (constants a test module imports; fixtures stay
in conftest.py)."""

from __future__ import annotations

KEY = "sk-serve-test-key"
