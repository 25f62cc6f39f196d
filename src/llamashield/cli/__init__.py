"""The ``llamashield`` command: ``check``, ``eval``, ``demo``. Needs ``llamashield[cli]``."""

from __future__ import annotations


def main() -> None:
    try:
        from llamashield.cli._app import app
    except ImportError as exc:  # typer/rich are the [cli] extra
        raise SystemExit(
            f"the llamashield command needs its extra: pip install 'llamashield[cli]' ({exc})"
        ) from None
    app()


__all__ = ["main"]
