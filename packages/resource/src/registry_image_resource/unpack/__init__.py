"""Unpacking image layers into a rootfs, safely (SPEC A.2.1, B.4.3).

``Rootfs`` applies uncompressed layer tar streams in order; ``decompressed`` picks gzip, zstd or
plain tar from a blob's magic bytes. Submodules: ``paths`` (chroot-style name resolution),
``tarstream`` (forward-only tar reader with read-ahead), ``tarfields`` (numbers and PAX records
as Go reads them), ``layers`` (OCI layer semantics, the parent-descriptor cache), ``entries``
(creating each kind of entry in a resolved parent), ``compression``, ``reader_process``
(decompressing and parsing in a child process). Nothing in this package talks to a registry.

The names below are imported when first used, so that the child process of ``reader_process``,
which needs only ``tarstream`` and ``compression``, does not import ``layers`` and what it
imports (``logging``, ``shutil``, ``pathlib``, ``dataclasses``): 20 ms of its 45 ms start.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_image_resource.unpack.compression import Source, decompressed, detect
    from registry_image_resource.unpack.layers import LayerStats, Rootfs

__all__ = ["LayerStats", "Rootfs", "Source", "apply_blob", "decompressed", "detect"]

_LAZY = {
    "Source": "compression",
    "decompressed": "compression",
    "detect": "compression",
    "LayerStats": "layers",
    "Rootfs": "layers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def apply_blob(rootfs: Rootfs, source: Source, label: str = "layer", *, separate: bool = False) -> LayerStats:
    """Decompress ``source`` (by magic bytes) and apply it to ``rootfs`` as one layer.

    ``separate`` decompresses and parses it in a child process (``reader_process``), on another
    core, while this process creates the entries.
    """
    if separate and sys.executable:
        from registry_image_resource.unpack.reader_process import ChildEntries

        with ChildEntries(source) as entries:
            return rootfs.apply_entries(entries, label)
    from registry_image_resource.unpack.compression import decompressed

    with decompressed(source) as tar:
        return rootfs.apply_layer(tar, label)
