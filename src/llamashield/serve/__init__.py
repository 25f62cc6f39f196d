"""``llamashield serve``: one guard behind OpenAI's moderation API (``llamashield[serve]``).

Example::

    from llamashield.serve import ServeConfig, create_app
    app = create_app(ServeConfig(backend="together", cache="redis://cache:6379/0"))
    # uvicorn.run(app, host="0.0.0.0", port=8000); or: llamashield serve --config serve.toml

Endpoints: ``POST /v1/moderations`` (OpenAI's request and response, Llama Guard's verdict
alongside), ``POST /v1/llamaguard/check`` (a conversation in, the ``Verdict`` JSON out),
``GET /healthz``, ``GET /metrics`` (Prometheus). See docs/production.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamashield.serve.auth import KeyStore, hash_key
from llamashield.serve.config import ServeConfig, build_guard, load_config

if TYPE_CHECKING:
    from llamashield.serve.app import create_app
    from llamashield.serve.server import ServerThread

__all__ = [
    "KeyStore",
    "ServeConfig",
    "ServerThread",
    "build_guard",
    "create_app",
    "hash_key",
    "load_config",
]


def __getattr__(name: str) -> Any:
    """Starlette and uvicorn load with the app, so reading a config needs neither."""
    modules = {"create_app": "llamashield.serve.app", "ServerThread": "llamashield.serve.server"}
    if name not in modules:
        raise AttributeError(f"module 'llamashield.serve' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(modules[name])
    except ImportError as exc:
        raise ImportError(
            f"llamashield serve needs its extra: pip install 'llamashield[serve]' ({exc})"
        ) from exc
    return getattr(module, name)
