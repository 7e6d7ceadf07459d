"""A fake OCI distribution registry for tests (SPEC A.3).

Start one with ``with FakeRegistry() as reg: ...`` (or the ``fake_registry`` pytest fixture),
seed it with :meth:`FakeRegistry.push_image` / :meth:`FakeRegistry.push_index`, inject faults with
``reg.faults`` and assert on ``reg.requests``. Images are built with :func:`build_image`,
:func:`build_layer` and :func:`build_index` from dicts of :class:`File`, :class:`Dir`,
:class:`Symlink`, :class:`Hardlink`, :class:`Whiteout`, :class:`OpaqueWhiteout` entries, and can be
uploaded to any registry (a real ``registry:2`` too) with :func:`upload`, written as an OCI
layout with :func:`write_oci_layout` (or just their blobs with :func:`write_blobs`) or as a
``docker save`` tarball with :func:`write_docker_archive`. :func:`cosign_sign` stores a cosign
signature (or a bad one on purpose) for a stored image.
"""

from fake_registry._auth import AuthConfig
from fake_registry._cosign import cosign_sign
from fake_registry._errors import RegistryError
from fake_registry._faults import Fault, Faults, LoggedRequest, RequestLog
from fake_registry._image import (
    Device,
    Dir,
    Fifo,
    File,
    Hardlink,
    Image,
    ImageConfig,
    Index,
    Layer,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
    build_image,
    build_index,
    build_layer,
    decompress,
    tar_bytes,
)
from fake_registry._proxy import ImpersonationProxy, forward_request
from fake_registry._registry import FakeRegistry, StoredManifest
from fake_registry._tls import CertificateAuthority
from fake_registry._upload import UploadError, upload, write_blobs, write_docker_archive, write_oci_layout

__all__ = [
    "AuthConfig",
    "CertificateAuthority",
    "Device",
    "Dir",
    "FakeRegistry",
    "Fault",
    "Faults",
    "Fifo",
    "File",
    "Hardlink",
    "Image",
    "ImageConfig",
    "ImpersonationProxy",
    "Index",
    "Layer",
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
    "build_layer",
    "cosign_sign",
    "decompress",
    "forward_request",
    "tar_bytes",
    "upload",
    "write_blobs",
    "write_docker_archive",
    "write_oci_layout",
]
