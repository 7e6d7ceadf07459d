"""The ``out`` command: push an image tarball or OCI layout under a list of tags (SPEC B.5).

Flow: the local tag list, the ``image`` glob and the input are all checked before the first
request (so nothing is pushed from invalid input); then the ``bump_aliases`` listing, then the
push. This module owns that order and the choice of reader; the readers live in ``archives.py``
and ``oci_layout.py``, the tags in ``tags.py``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from registry_image_resource.errors import InputError, ResourceError
from registry_image_resource.globbing import find_image
from registry_image_resource.models import OutRequest
from registry_image_resource.pushable import LoadedImage, find_member, index_tar
from registry_image_resource.tags import local_tags

_CHUNK = 1024 * 1024


def run(request: OutRequest, src: Path) -> dict[str, Any]:
    """Push the image ``params.image`` names under ``src``; return the OutResponse JSON (SPEC B.5.7)."""
    source, params = request.source, request.params
    local = local_tags(source, params, src)
    match = find_image(str(src), params.image)
    with tempfile.TemporaryDirectory(prefix="registry-image-out-") as workdir:
        try:
            loaded = load_image(Path(match), Path(workdir))
        except ResourceError as err:
            raise err.wrap(f"could not load image from path '{params.image}'") from None
        del local, loaded
        raise ResourceError("out: pushing is not implemented yet")


def load_image(path: Path, workdir: Path) -> LoadedImage:
    """What to push from ``path``: an OCI layout directory, a ``docker save`` tarball, or a layout tarball.

    A tarball compressed as a whole (``docker save | gzip``) is decompressed into ``workdir`` first.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputError(f"stat {path}: {(err.strerror or str(err)).lower()}") from None
    if stat.S_ISDIR(info.st_mode):
        from registry_image_resource.oci_layout import load_layout_dir

        return load_layout_dir(path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is neither a directory nor a regular file")
    tar_path = _decompressed(path, workdir)
    members = index_tar(tar_path, f"loading {path} as tarball")
    if find_member(members, "manifest.json") is None and find_member(members, "index.json") is not None:
        from registry_image_resource.oci_layout import load_layout_tar

        return load_layout_tar(tar_path, members)
    from registry_image_resource.archives import load_docker_archive

    return load_docker_archive(tar_path, members, workdir)


def _decompressed(path: Path, workdir: Path) -> Path:
    """``path`` itself, or a decompressed copy in ``workdir`` when it is gzip or zstd compressed."""
    with open(path, "rb") as file:
        head = file.read(4)
    if not (head.startswith(b"\x1f\x8b") or head == b"\x28\xb5\x2f\xfd"):
        return path
    target = workdir / (path.name + ".tar")
    try:
        with open(path, "rb") as raw, open(target, "wb") as out:
            if head.startswith(b"\x1f\x8b"):
                from isal import igzip

                with igzip.IGzipFile(fileobj=raw, mode="rb") as source:  # type: ignore[no-untyped-call]
                    shutil.copyfileobj(source, out, _CHUNK)
            else:
                import zstandard

                with zstandard.ZstdDecompressor().stream_reader(raw) as stream:
                    shutil.copyfileobj(stream, out, _CHUNK)
    except Exception as err:  # gzip, isal and zstandard each raise their own error types
        raise InputError(f"loading {path} as tarball: cannot decompress it: {err}") from None
    return target
