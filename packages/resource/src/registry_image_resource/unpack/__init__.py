"""Unpacking image layers into a rootfs, safely (SPEC A.2.1, B.4.3).

``Rootfs`` applies uncompressed layer tar streams in order; ``decompressed`` picks gzip, zstd or
plain tar from a blob's magic bytes. Submodules: ``paths`` (chroot-style name resolution),
``tarstream`` (forward-only tar reader with read-ahead), ``tarfields`` (numbers and PAX records
as Go reads them), ``layers`` (OCI layer semantics, the parent-descriptor cache), ``entries``
(creating each kind of entry in a resolved parent), ``compression``.
Nothing in this package talks to a registry.
"""

from __future__ import annotations

from registry_image_resource.unpack.compression import Source, decompressed, detect
from registry_image_resource.unpack.layers import LayerStats, Rootfs

__all__ = ["LayerStats", "Rootfs", "Source", "apply_blob", "decompressed", "detect"]


def apply_blob(rootfs: Rootfs, source: Source, label: str = "layer") -> LayerStats:
    """Decompress ``source`` (by magic bytes) and apply it to ``rootfs`` as one layer."""
    with decompressed(source) as tar:
        return rootfs.apply_layer(tar, label)
