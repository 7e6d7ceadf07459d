"""Layer builders and tree snapshots for the unpack tests.

Layers are written with ``tarfile`` (writing is not what is under test) from small entry specs,
and trees are compared as sorted lists of (path, kind, mode, owner, size, content, mtime).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_image_resource.unpack import Rootfs, apply_blob

MTIME = 1_600_000_000


@dataclass(frozen=True)
class Spec:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = MTIME
    linkname: str = ""
    pax: dict[str, str] | None = None


class Layers:
    """Entry spec constructors and layer encoders, handed to tests through the ``L`` fixture."""

    @staticmethod
    def file(name: str, data: bytes = b"", mode: int = 0o644, **kw: object) -> Spec:
        return Spec(name, tarfile.REGTYPE, data, mode, **kw)  # type: ignore[arg-type]

    @staticmethod
    def dir(name: str, mode: int = 0o755, **kw: object) -> Spec:
        return Spec(name, tarfile.DIRTYPE, b"", mode, **kw)  # type: ignore[arg-type]

    @staticmethod
    def symlink(name: str, target: str, **kw: object) -> Spec:
        return Spec(name, tarfile.SYMTYPE, b"", 0o777, linkname=target, **kw)  # type: ignore[arg-type]

    @staticmethod
    def hardlink(name: str, target: str, **kw: object) -> Spec:
        return Spec(name, tarfile.LNKTYPE, b"", 0o644, linkname=target, **kw)  # type: ignore[arg-type]

    @staticmethod
    def fifo(name: str, mode: int = 0o600, **kw: object) -> Spec:
        return Spec(name, tarfile.FIFOTYPE, b"", mode, **kw)  # type: ignore[arg-type]

    @staticmethod
    def chardev(name: str) -> Spec:
        return Spec(name, tarfile.CHRTYPE, b"", 0o666)

    @staticmethod
    def whiteout(name: str) -> Spec:
        head, _, base = name.rpartition("/")
        return Spec(f"{head}/.wh.{base}" if head else f".wh.{base}")

    @staticmethod
    def opaque(directory: str) -> Spec:
        return Spec(f"{directory.rstrip('/')}/.wh..wh..opq" if directory else ".wh..wh..opq")

    @staticmethod
    def tar(specs: Iterable[Spec], fmt: int = tarfile.PAX_FORMAT) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
            for spec in specs:
                info = tarfile.TarInfo(spec.name)
                info.type = spec.type
                info.mode = spec.mode
                info.uid, info.gid = spec.uid, spec.gid
                info.mtime = spec.mtime
                info.linkname = spec.linkname
                info.size = len(spec.data)
                if spec.pax:
                    info.pax_headers = dict(spec.pax)
                if spec.type == tarfile.CHRTYPE:
                    info.devmajor, info.devminor = 1, 3
                archive.addfile(info, io.BytesIO(spec.data) if spec.type == tarfile.REGTYPE else None)
        return out.getvalue()

    @staticmethod
    def gzip(specs: Iterable[Spec]) -> bytes:
        return gzip.compress(Layers.tar(specs), mtime=0)

    @staticmethod
    def zstd(specs: Iterable[Spec]) -> bytes:
        import zstandard

        return zstandard.ZstdCompressor().compress(Layers.tar(specs))


@pytest.fixture
def L() -> type[Layers]:  # short on purpose: used in every table
    return Layers


def unpack(root: Path, *blobs: bytes, chown: bool | None = None, separate: bool = False) -> None:
    """Apply each blob (any compression) to ``root`` as one layer, then restore directory times.

    ``separate``: each blob decompressed and parsed by a child process (``reader_process``).
    """
    with Rootfs(root, chown=chown) as rootfs:
        for blob in blobs:
            apply_blob(rootfs, io.BytesIO(blob), separate=separate)
        rootfs.finish()


@pytest.fixture(params=["in-process", "child-process"])
def apply(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``unpack``, with the layer read in this process and again by a child process: every layer
    test holds for both readers, the writer being the same."""
    separate = request.param == "child-process"

    def run(root: Path, *blobs: bytes, chown: bool | None = None) -> None:
        unpack(root, *blobs, chown=chown, separate=separate)

    return run


def tree(
    root: Path, *, times: bool = True, owners: bool = True, exact: bool = False
) -> list[tuple[object, ...]]:
    """Every path under ``root`` as (path, kind, mode, content-or-target, uid, gid, mtime).

    ``exact`` adds inode, link count and ctime, which change on any chmod, chown, utime or link.
    """
    rows: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                kind, content = "l", os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                kind, content = "d", ""
            elif stat.S_ISFIFO(info.st_mode):
                kind, content = "p", ""
            else:
                data = path.read_bytes()
                kind = "f"
                content = data.decode() if len(data) < 64 else hashlib.sha256(data).hexdigest()
            row: tuple[object, ...] = (rel, kind, oct(stat.S_IMODE(info.st_mode)), content)
            if owners:
                row += (info.st_uid, info.st_gid)
            if times:
                row += (info.st_mtime_ns // 1_000_000_000,)
            if exact:
                row += (info.st_ino, info.st_nlink, info.st_mtime_ns, info.st_ctime_ns)
            rows.append(row)
    return sorted(rows)


@pytest.fixture
def snapshot() -> Callable[..., list[tuple[object, ...]]]:
    return tree
