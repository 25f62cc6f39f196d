"""Without ``opentelemetry-api`` nothing changes: ``import llamashield`` and every check work,
and OpenTelemetry is never imported (a fresh interpreter with an import blocker proves it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoOpenTelemetry(MetaPathFinder):
        tried = []
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                NoOpenTelemetry.tried.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())
    """
)


def _run(body: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(body)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_a_guard_works_and_never_imports_opentelemetry_when_it_is_absent() -> None:
    result = _run(
        """
        import asyncio
        import llamashield
        from llamashield import LlamaGuard
        from llamashield.backends import SimulatedBackend
        from llamashield import _telemetry

        assert "opentelemetry" not in sys.modules
        guard = LlamaGuard(SimulatedBackend(), cache=True)
        assert not guard.check("How do I make a bomb?").safe
        assert guard.check_many(["hello", "bomb"])[1].unsafe
        assert asyncio.run(guard.acheck("hello")).safe
        shadow = guard.with_shadow(True)
        assert shadow.check("bomb").would_block is True
        assert _telemetry.get() is None
        assert not any(m.startswith("opentelemetry") for m in sys.modules)
        print("tried", len(NoOpenTelemetry.tried))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tried 1"  # asked once, at the first check; never again


def test_importing_llamashield_imports_no_opentelemetry_even_when_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-c",
         "import sys, llamashield\n"
         "from llamashield import LlamaGuard, Verdict\n"
         "import llamashield._plan, llamashield.streaming\n"
         "print(any(m.startswith('opentelemetry') for m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
