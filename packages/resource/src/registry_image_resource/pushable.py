"""What ``out`` pushes: a tree of manifests whose blobs are byte ranges of local files.

The readers (``archives.py`` for ``docker save`` tarballs, ``oci_layout.py`` for OCI layouts,
as directories or tarballs) turn their input into a ``ManifestNode`` tree before any request is
made; ``put.py`` pushes the tree. This module also owns the tar member index both readers share
(members are pushed straight from their offset in the tarball, never extracted). It must never
hold a blob in memory (only manifests and configs, which are small and capped) and never talk to
a registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from registry_image_resource.errors import InputError

#: Manifests and configs are read whole; registry:2 refuses manifests over 4 MiB anyway.
MAX_DOCUMENT_SIZE = 16 * 1024 * 1024
_DIGEST = re.compile(r"^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobFile:
    """A blob to push: ``size`` bytes at ``offset`` of ``path`` whose sha256 is ``digest``."""

    digest: str
    size: int
    path: Path
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ManifestNode:
    """A manifest to push, with what must exist in the repository before it.

    For an image, ``blobs`` are its config and layers. For an index, ``children`` are its
    image and index manifests (pushed by digest first) and ``blobs`` any other children
    (pushed as blobs, as ggcr does). ``body`` is pushed byte for byte.
    """

    body: bytes
    media_type: str
    digest: str
    blobs: tuple[BlobFile, ...] = ()
    children: tuple[ManifestNode, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """The pushable tree and the repositories its blobs may be mounted from (names as written)."""

    root: ManifestNode
    origins: tuple[str, ...] = ()


def is_digest(text: str) -> bool:
    """A digest we accept from a file: sha256 or sha512 in lower-case hex (also keeps paths safe)."""
    return _DIGEST.match(text) is not None


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_of(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def go_json(document: Any) -> bytes:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML characters and U+2028/9 escaped)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


class _Slice(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of a file."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._file.seek(offset)
        self._size = size
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._read)
        if wanted <= 0:
            return 0
        got = self._file.readinto(view[:wanted])
        if not got:
            raise InputError(f"{self._file.name}: file ended {self._size - self._read} bytes early")
        self._read += got
        return got

    def __len__(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._read

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


class _SizedReader(io.BufferedReader):
    """A buffered ``_Slice`` with ``len()``, so ``requests`` sends a Content-Length, never chunks."""

    def __init__(self, raw: _Slice) -> None:
        super().__init__(raw, buffer_size=_CHUNK)
        self._size = len(raw)

    def __len__(self) -> int:
        return self._size


def open_blob(blob: BlobFile) -> BinaryIO:
    """A fresh reader of the blob's bytes (``len()`` gives its size); the caller closes it."""
    return _SizedReader(_Slice(blob.path, blob.offset, blob.size))


def read_range(path: Path, offset: int, size: int, what: str) -> bytes:
    """A small document (manifest, config, index) read whole, refusing oversized ones."""
    if size > MAX_DOCUMENT_SIZE:
        raise InputError(f"{what} is {size} bytes, more than the {MAX_DOCUMENT_SIZE} allowed for a document")
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read(size)
    if len(data) != size:
        raise InputError(f"{what}: file ended {size - len(data)} bytes early")
    return data


def hash_range(path: Path, offset: int, size: int, algorithm: str = "sha256") -> str:
    """Digest of ``size`` bytes at ``offset`` of ``path``, streamed."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as file:
        file.seek(offset)
        remaining = size
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while remaining:
            got = file.readinto(view[: min(_CHUNK, remaining)])
            if not got:
                raise InputError(f"{path}: file ended {remaining} bytes early")
            hasher.update(view[:got])
            remaining -= got
    return f"{algorithm}:{hasher.hexdigest()}"


# --- tar member index -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TarMember:
    """One entry of a tarball: regular files carry the offset and size of their data."""

    name: str
    kind: str  # "file", "symlink", "hardlink" or "other"
    offset: int = 0
    size: int = 0
    linkname: str = ""


def _clean_member_name(name: str) -> str:
    from registry_image_resource.globbing import go_clean

    return go_clean("/" + name).lstrip("/")


def index_tar(path: Path, what: str) -> dict[str, TarMember]:
    """Every member of the (uncompressed) tarball at ``path`` by cleaned name; the last one wins.

    ``what`` starts error messages (``loading <p> as tarball``).
    """
    members: dict[str, TarMember] = {}
    try:
        file_size = path.stat().st_size
        with tarfile.open(path, mode="r:") as archive:
            for info in archive:
                name = _clean_member_name(info.name)
                if info.isfile() and not info.issparse():
                    if info.offset_data + info.size > file_size:
                        raise InputError(f"{what}: {name} is truncated")
                    member = TarMember(name, "file", info.offset_data, info.size)
                elif info.issym():
                    member = TarMember(name, "symlink", linkname=info.linkname)
                elif info.islnk():
                    member = TarMember(name, "hardlink", linkname=info.linkname)
                else:
                    member = TarMember(name, "other")
                members[name] = member
    except (tarfile.TarError, OSError, EOFError, UnicodeError) as err:
        raise InputError(f"{what}: {_tar_error_text(err)}") from None
    return members


def _tar_error_text(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    text = str(err) or type(err).__name__
    if text == "empty file":
        return "empty file, not a tarball"
    return text


def find_member(members: dict[str, TarMember], name: str) -> TarMember | None:
    """The regular file ``name`` names in the tarball, following symlinks and hard links.

    Symlinks resolve against the directory of the link (absolute ones against the archive root)
    and hard links against the archive root, as ``tar`` writes them; for ggcr compatibility a
    hard link is also tried relative to its own directory.
    """
    from registry_image_resource.globbing import go_join

    current = _clean_member_name(name)
    for _ in range(40):
        member = members.get(current)
        if member is None:
            return None
        if member.kind == "file":
            return member
        if member.kind == "other":
            return None
        directory = current.rpartition("/")[0]
        if member.kind == "symlink":
            if member.linkname.startswith("/"):
                current = _clean_member_name(member.linkname)
            else:
                current = _clean_member_name(go_join(directory, member.linkname))
        else:
            rooted = _clean_member_name(member.linkname)
            relative = _clean_member_name(go_join(directory, member.linkname))
            current = rooted if rooted in members or relative not in members else relative
    return None


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object, or an ``InputError`` naming ``what``."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeError) as err:
        raise InputError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise InputError(f"{what} is not a JSON object")
    return document


@dataclass(frozen=True, slots=True)
class Descriptor:
    """The fields of an OCI descriptor that a push needs."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()


def parse_descriptor(value: Any, what: str) -> Descriptor:
    """A descriptor from JSON, validated (the digest also becomes a file name, so it must be safe)."""
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    media_type = value.get("mediaType", "")
    digest = value.get("digest")
    size = value.get("size")
    urls = value.get("urls") or []
    if not isinstance(media_type, str):
        raise InputError(f"{what}: mediaType is not a string")
    if not isinstance(digest, str) or not is_digest(digest):
        raise InputError(f"{what}: invalid digest {json.dumps(digest)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InputError(f"{what}: invalid size {json.dumps(size)}")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InputError(f"{what}: urls is not a list of strings")
    return Descriptor(media_type, digest, size, tuple(urls))


def is_foreign(descriptor: Descriptor) -> bool:
    """Non-distributable layers are referenced by the manifest but never uploaded (as ggcr does)."""
    return "foreign" in descriptor.media_type or "nondistributable" in descriptor.media_type
