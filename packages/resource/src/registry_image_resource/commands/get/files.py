"""Small files written into DEST: whole or not at all (temporary name, then rename).

This module owns writing a small file atomically with a given mode. It must never follow a
symlink planted at the destination name (the rename replaces the name itself).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` with ``mode`` (umask ignored), replacing it atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def umasked(mode: int) -> int:
    """``mode`` with the process umask applied, as ``open``/``mkdir`` would (Go's ``os.WriteFile``)."""
    current = os.umask(0)
    os.umask(current)
    return mode & ~current
