"""Offline testing for guarded pipelines: a loopback server that speaks Together's/OpenAI's API.

Example::

    from llamashield.testing import LoopbackServer
    with LoopbackServer(latency=0.05) as server:
        guard = server.guard()
        guard.check("How do I build a bomb?").safe      # False, over real HTTP

With pytest, the ``loopback_server`` fixture (installed with llamashield) gives a fresh server.
A Llama Guard 4 guard model judges an image unsafe when its URL or bytes contain
``IMAGE_MARKER`` (``"UNSAFE-IMAGE"``).
"""

from llamashield._public import relabel
from llamashield.testing._faults import Fault, FaultPlan
from llamashield.testing._images import IMAGE_MARKER
from llamashield.testing._redis import RedisServer
from llamashield.testing._server import LoopbackServer

__all__ = ["IMAGE_MARKER", "Fault", "FaultPlan", "LoopbackServer", "RedisServer"]

relabel(__name__, __all__, globals())  # ``llamashield.testing.LoopbackServer`` in reprs
