"""A fake OCI distribution registry for tests (SPEC A.3).

Start one with ``with FakeRegistry() as reg: ...`` (or the ``fake_registry`` and
``fake_registry_factory`` pytest fixtures), seed it with :meth:`FakeRegistry.push_image` /
:meth:`FakeRegistry.push_index`, inject faults with ``reg.faults`` and assert on ``reg.requests``.
Images are built with :func:`build_image` and :func:`build_index` from dicts of :class:`File`,
:class:`Dir`, :class:`Symlink`, :class:`Hardlink`, :class:`Whiteout`, :class:`OpaqueWhiteout`,
:class:`Fifo` and :class:`Device` entries, and can be uploaded to any registry (a real
``registry:2`` too) with :func:`upload`, or written as an OCI layout with
:func:`write_oci_layout` or as a ``docker save`` tarball with :func:`write_docker_archive`.
:func:`cosign_sign` stores a cosign signature (or a bad one on purpose) for a stored image.

This is the whole API a test needs. The impersonation proxy's types live in
:mod:`fake_registry.proxy`; single layers, tarballs, blob directories and the auth configuration
object in :mod:`fake_registry.lowlevel`.
"""

from fake_registry._cosign import cosign_sign
from fake_registry._errors import RegistryError
from fake_registry._faults import Fault, FaultRule, Faults, LoggedRequest, RequestLog
from fake_registry._image import (
    Device,
    Dir,
    Fifo,
    File,
    Hardlink,
    Image,
    ImageConfig,
    Index,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
    build_image,
    build_index,
)
from fake_registry._registry import FakeRegistry, FakeRegistryFactory, StoredManifest
from fake_registry._tls import CertificateAuthority
from fake_registry._upload import UploadError, upload, write_docker_archive, write_oci_layout

__all__ = [
    "CertificateAuthority",
    "Device",
    "Dir",
    "FakeRegistry",
    "FakeRegistryFactory",
    "Fault",
    "FaultRule",
    "Faults",
    "Fifo",
    "File",
    "Hardlink",
    "Image",
    "ImageConfig",
    "Index",
    "LoggedRequest",
    "OpaqueWhiteout",
    "RegistryError",
    "RequestLog",
    "StoredManifest",
    "Symlink",
    "UploadError",
    "Whiteout",
    "build_image",
    "build_index",
    "cosign_sign",
    "upload",
    "write_docker_archive",
    "write_oci_layout",
]
