"""Key store adapters: the institution's record-signing keys, X.509 hierarchy and secrets.

    FileKeyStore      encrypted files in a directory (the real one; `init_key_store` makes it)
    MemoryKeyStore    the same in memory, for tests
    TrustBundle       the public half, exported for offline verification (`load_bundle`)

Both stores implement the core's `RecordKeys` port and hand out a `PadesSigner`.
"""

from .bundle import TrustBundle, export_bundle, load_bundle
from .memory import MemoryKeyStore
from .passphrase import resolve_passphrase
from .store import FileKeyStore, init_key_store

__all__ = [
    "FileKeyStore",
    "MemoryKeyStore",
    "TrustBundle",
    "export_bundle",
    "init_key_store",
    "load_bundle",
    "resolve_passphrase",
]
