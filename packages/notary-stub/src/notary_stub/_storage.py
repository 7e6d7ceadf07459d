"""Where the stub keeps TUF metadata and server-held keys: in memory or in a directory.

Owns persistence only: every version of every role of every GUN, and the private keys the
server holds per GUN and role. It never validates metadata (``_repository`` does) and never
writes outside its root directory (GUN and role names are percent-encoded into one path segment).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

__all__ = ["DirectoryStorage", "MemoryStorage", "Storage"]


class Storage(Protocol):
    """What the repository logic needs from a store. Versions ascend per (GUN, role)."""

    def versions(self, gun: str, role: str) -> list[int]: ...
    def read(self, gun: str, role: str, version: int) -> bytes: ...
    def write_many(self, gun: str, updates: list[tuple[str, int, bytes]]) -> None: ...
    def delete(self, gun: str) -> None: ...
    def keys(self, gun: str, role: str) -> list[bytes]: ...
    def add_key(self, gun: str, role: str, private_pem: bytes) -> None: ...
    def clear(self) -> None: ...


class MemoryStorage:
    """Everything in dictionaries; lost when the server stops."""

    def __init__(self) -> None:
        self._meta: dict[tuple[str, str], dict[int, bytes]] = {}
        self._keys: dict[tuple[str, str], list[bytes]] = {}
        self._lock = threading.Lock()

    def versions(self, gun: str, role: str) -> list[int]:
        with self._lock:
            return sorted(self._meta.get((gun, role), {}))

    def read(self, gun: str, role: str, version: int) -> bytes:
        with self._lock:
            return self._meta[(gun, role)][version]

    def write_many(self, gun: str, updates: list[tuple[str, int, bytes]]) -> None:
        with self._lock:
            for role, version, data in updates:
                self._meta.setdefault((gun, role), {})[version] = data

    def delete(self, gun: str) -> None:
        with self._lock:
            for key in [key for key in self._meta if key[0] == gun]:
                del self._meta[key]

    def keys(self, gun: str, role: str) -> list[bytes]:
        with self._lock:
            return list(self._keys.get((gun, role), []))

    def add_key(self, gun: str, role: str, private_pem: bytes) -> None:
        with self._lock:
            self._keys.setdefault((gun, role), []).append(private_pem)

    def clear(self) -> None:
        with self._lock:
            self._meta.clear()
            self._keys.clear()


def _segment(name: str) -> str:
    return quote(name, safe="")


class DirectoryStorage:
    """``<root>/<gun>/meta/<role>/<version>.json`` and ``<root>/<gun>/keys/<role>/<n>.pem``.

    GUN and role are percent-encoded (``/`` included), so neither can name a path outside the root.
    Files are written to a temporary name and renamed, so a reader never sees half a file.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _dir(self, gun: str, kind: str, role: str) -> Path:
        return self._root / _segment(gun) / kind / _segment(role)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def versions(self, gun: str, role: str) -> list[int]:
        directory = self._dir(gun, "meta", role)
        if not directory.is_dir():
            return []
        return sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit())

    def read(self, gun: str, role: str, version: int) -> bytes:
        return (self._dir(gun, "meta", role) / f"{version}.json").read_bytes()

    def write_many(self, gun: str, updates: list[tuple[str, int, bytes]]) -> None:
        with self._lock:
            for role, version, data in updates:
                self._write(self._dir(gun, "meta", role) / f"{version}.json", data)

    def delete(self, gun: str) -> None:
        with self._lock:
            meta = self._root / _segment(gun) / "meta"
            if meta.is_dir():
                for path in sorted(meta.rglob("*"), reverse=True):
                    path.rmdir() if path.is_dir() else path.unlink()
                meta.rmdir()

    def keys(self, gun: str, role: str) -> list[bytes]:
        directory = self._dir(gun, "keys", role)
        if not directory.is_dir():
            return []
        files = sorted((p for p in directory.glob("*.pem")), key=lambda p: int(p.stem))
        return [p.read_bytes() for p in files]

    def add_key(self, gun: str, role: str, private_pem: bytes) -> None:
        with self._lock:
            count = len(self.keys(gun, role))
            path = self._dir(gun, "keys", role) / f"{count}.pem"
            self._write(path, private_pem)
            path.chmod(0o600)

    def clear(self) -> None:
        with self._lock:
            for path in sorted(self._root.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
