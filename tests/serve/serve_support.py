"""What the serve tests share besides fixtures (a unique module name: pytest puts every test
folder on sys.path, so ``conftest`` would be another folder's)."""

from __future__ import annotations

KEY = "sk-serve-test-key"
