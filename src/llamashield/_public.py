"""Public names report the module users import them from: ``llamashield.Verdict`` in reprs,
tracebacks and pickles, not ``llamashield._verdict.Verdict`` (a private module that may move).

Pickling finds a relabelled class or function through its public module (the package's lazy
``__getattr__`` included), so a pickle never names a private module either.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

__all__ = ["relabel"]


def relabel(public: str, names: Iterable[str], namespace: Mapping[str, object]) -> None:
    """Give each class and function among ``names`` in ``namespace`` the ``__module__``
    ``public``, where it was defined in a private module (a name another public module
    already claimed, or one defined in a public module, keeps its own). Constants and type
    aliases have no module of their own and are left alone."""
    for name in names:
        value = namespace.get(name)
        if not (isinstance(value, type) or inspect.isfunction(value)):
            continue
        if any(part.startswith("_") for part in value.__module__.split(".")):
            value.__module__ = public
