"""A Notary v1 server subset for content-trust tests (SPEC A.4).

``NotaryServer`` runs the stub in a thread (``with NotaryServer() as server: server.url``);
``python -m notary_stub serve --listen HOST:PORT`` runs it as a process; the pytest plugin gives
the ``notary_server`` and ``notary_server_factory`` fixtures. ``canonical_json`` is Notary's
canonical JSON encoding, exported for tests that build or check metadata themselves;
``NotaryClient`` drives the real ``notary`` client against a server.
"""

from notary_stub._app import Auth, NotaryApp
from notary_stub._canonical import canonical_json
from notary_stub._client import NotaryClient, NotaryCommandError, Target
from notary_stub._repository import NotaryError, Repositories
from notary_stub._server import NotaryServer, NotaryServerFactory
from notary_stub._storage import DirectoryStorage, MemoryStorage, Storage

__all__ = [
    "Auth",
    "DirectoryStorage",
    "MemoryStorage",
    "NotaryApp",
    "NotaryClient",
    "NotaryCommandError",
    "NotaryError",
    "NotaryServer",
    "NotaryServerFactory",
    "Repositories",
    "Storage",
    "Target",
    "canonical_json",
]
