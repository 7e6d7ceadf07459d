"""Applying image layers (uncompressed tar streams) onto a rootfs directory, in order.

This module owns the OCI layer semantics: whiteouts (``.wh.<name>``), opaque whiteouts
(``.wh..wh..opq``, hiding what lower layers put in a directory but not what this layer adds),
replacing an existing path (a file over a symlink removes the link, it never writes through it),
hard links, symlinks stored verbatim, FIFOs, modes with setuid/setgid/sticky, numeric ownership
when running as root, and times (directories' times restored once every layer is applied, since
adding children changes them). Devices are skipped with a debug line. Creating each kind of
entry in its resolved parent is ``entries``' job.

Parents are resolved once and their descriptors kept (up to 256) while their entries arrive, by
cleaned parts and by the entries' own spelling of the directory, so a regular file in a known
directory costs no cleaning and no resolution, and takes a path written inline in
``apply_entries``'s loop: about 1.5 us of Python before its syscalls (inlining it took the
in-process unpacking of 20,000 small files from 1.60 G to 1.49 G instructions, callgrind). The
cache is dropped (but for the caller's own parent) whenever something is removed (a removed
directory or link may be on a cached path), so a cached descriptor names what a fresh
resolution would.

Every name is resolved with ``paths.resolve_dir`` (chroot semantics) and every operation acts on
"directory descriptor + leaf name" without following the leaf, so no entry, however hostile, can
create, change, link to or delete anything outside the rootfs (SPEC A.2.1). This module must never
call ``tarfile.extractall`` or act on a path string that was not resolved this way.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from registry_image_resource.errors import UnpackError
from registry_image_resource.log import Logger, get_logger
from registry_image_resource.unpack import paths
from registry_image_resource.unpack.entries import DirMeta, EntryWriter
from registry_image_resource.unpack.tarstream import (
    DEVICES,
    DIRECTORY,
    FIFO,
    GLOBAL_PAX,
    HARDLINK,
    REGULAR,
    SYMLINK,
    Entry,
    EntryReader,
    Readable,
    TarReader,
)

OPAQUE = ".wh..wh..opq"
WHITEOUT_PREFIX = ".wh."
_META_PREFIX = ".wh..wh."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CACHE_LIMIT = 256


@dataclass(slots=True)
class LayerStats:
    """What one layer did, for the debug log and tests."""

    entries: int = 0
    files: int = 0
    bytes: int = 0
    whiteouts: int = 0
    skipped: list[str] = field(default_factory=list)


class Rootfs(EntryWriter):
    """A rootfs directory being built layer by layer.

    Use as a context manager; call ``apply_layer`` once per layer in manifest order (base first),
    then ``finish`` to restore directory times (and, when not root, directory modes that would
    have locked us out of adding children).
    """

    def __init__(self, path: Path, *, chown: bool | None = None, logger: Logger | None = None) -> None:
        self.path = path
        self.chown = os.geteuid() == 0 if chown is None else chown
        self._log = logger or get_logger()
        self._root_fd = -1
        self._dirs: dict[str, DirMeta] = {}
        self._cache: dict[tuple[str, ...], paths.Resolved] = {}
        # The same resolved parents, by the entry names' own spelling of their directory, as
        # (descriptor, the prefix of their children's keys such as "a/b/", parts).
        self._by_name: dict[str, tuple[int, str, tuple[str, ...]]] = {}
        self._owner = (os.geteuid(), os.getegid())
        self._plain_dirs: dict[int, bool] = {}
        self._umask = _current_umask()

    def __enter__(self) -> Rootfs:
        self.path.mkdir(mode=0o755, parents=False, exist_ok=True)
        self._root_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._clear_cache()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    # -- layers --------------------------------------------------------------------------------

    def apply_layer(self, stream: Readable, label: str = "layer") -> LayerStats:
        """Apply one uncompressed tar stream. Raises ``UnpackError`` naming the entry on failure."""
        return self.apply_entries(TarReader(stream), label)

    def apply_entries(self, reader: EntryReader, label: str = "layer") -> LayerStats:
        """Apply one layer's entries, read in tar order from ``reader``."""
        stats = LayerStats()
        layer = _Layer()
        # The common case inline, without cleaning nor resolving: a regular file whose directory,
        # spelt exactly so, was resolved for an earlier entry, and whose name does not start with
        # "." (so it is neither ".", ".." nor a whiteout). Everything else takes ``_apply``.
        by_name = self._by_name
        made = layer.paths
        write_file = self._file
        fast = size = 0
        try:
            for entry in reader:
                try:
                    if entry.type in REGULAR:
                        head, _, leaf = entry.name.rpartition("/")
                        known = by_name.get(head)
                        if known is not None and leaf and leaf[0] != ".":
                            dir_fd, prefix, parts = known
                            key = prefix + leaf
                            made.add(key)
                            if parts is not layer.last_parent:
                                layer.add_dirs(parts)
                            write_file(dir_fd, leaf, key, entry, reader)
                            fast += 1
                            size += entry.size
                            continue
                    stats.entries += 1
                    self._apply(entry, reader, layer, stats)
                except UnpackError:
                    raise
                except (OSError, ValueError) as err:
                    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                    raise UnpackError(f"{entry.name}: {reason}") from None
        finally:
            self._clear_cache()
        stats.entries += fast
        stats.files += fast
        stats.bytes += size
        self._log.debug(
            "applied %s: %d entries, %d files, %d bytes, %d whiteouts",
            label,
            stats.entries,
            stats.files,
            stats.bytes,
            stats.whiteouts,
        )
        return stats

    def finish(self) -> None:
        """Set every directory's times (and mode when not root) from its last entry, deepest first."""
        for key in sorted(self._dirs, key=lambda k: k.count("/"), reverse=True):
            meta = self._dirs[key]
            parts = key.split("/")
            try:
                parent = paths.resolve_dir(self._root_fd, parts[:-1], create=False)
            except OSError:
                continue  # replaced by a file or a link loop since: nothing left to restore
            if parent is None:
                continue
            try:
                info = os.stat(parts[-1], dir_fd=parent.fd, follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode):
                    continue
                if not self.chown:
                    os.chmod(parts[-1], meta.mode, dir_fd=parent.fd, follow_symlinks=True)
                os.utime(
                    parts[-1],
                    ns=(meta.atime_ns, meta.mtime_ns),
                    dir_fd=parent.fd,
                    follow_symlinks=False,
                )
            except FileNotFoundError:
                continue
            except OSError as err:
                raise UnpackError(f"restore times of {key}: {err.strerror}") from None
            finally:
                os.close(parent.fd)
        self._dirs.clear()

    # -- one entry -----------------------------------------------------------------------------

    def _apply(self, entry: Entry, reader: EntryReader, layer: _Layer, stats: LayerStats) -> None:
        parts = paths.clean(entry.name)
        if not parts:
            self._log.debug("skipping entry for the rootfs itself: %s", entry.name)
            return
        dir_parts, leaf = parts[:-1], parts[-1]
        if leaf == OPAQUE:
            stats.whiteouts += 1
            self._opaque(dir_parts, layer)
            return
        if leaf.startswith(_META_PREFIX):
            self._log.debug("skipping whiteout metadata entry %s", entry.name)
            return
        if leaf.startswith(WHITEOUT_PREFIX):
            stats.whiteouts += 1
            self._whiteout(entry.name, dir_parts, leaf[len(WHITEOUT_PREFIX) :], layer)
            return
        kind = entry.type
        if kind in DEVICES:
            self._log.debug("skipping device %s", entry.name)
            stats.skipped.append(entry.name)
            return
        if kind == GLOBAL_PAX:
            return
        if kind not in REGULAR and kind not in (DIRECTORY, SYMLINK, HARDLINK, FIFO):
            raise UnpackError(f"{entry.name}: unsupported entry type ({entry.type_char})")

        parent = self._parent(tuple(dir_parts))
        head, _, raw_leaf = entry.name.rpartition("/")
        if raw_leaf == leaf:
            # ``head`` cleans to ``dir_parts`` whatever it holds ("a/./b", "x/../a/b"): later
            # entries under the same spelling skip cleaning and the lookup by parts.
            self._by_name[head] = (parent.fd, f"{parent.path}/" if parent.parts else "", parent.parts)
        key = "/".join((*parent.parts, leaf))
        layer.add(parent.parts, key)
        if kind in REGULAR:
            self._file(parent.fd, leaf, key, entry, reader)
            stats.files += 1
            stats.bytes += entry.size
        elif kind == DIRECTORY:
            self._directory(parent.fd, leaf, key, entry)
        elif kind == SYMLINK:
            self._symlink(parent.fd, leaf, key, entry)
        elif kind == HARDLINK:
            self._hardlink(parent.fd, leaf, key, entry)
        else:
            self._fifo(parent.fd, leaf, key, entry)

    def _parent(self, dir_parts: tuple[str, ...]) -> paths.Resolved:
        cached = self._cache.get(dir_parts)
        if cached is not None:
            return cached
        if len(self._cache) >= _CACHE_LIMIT:
            self._clear_cache()
        resolved = paths.resolve_dir(self._root_fd, list(dir_parts), create=True)
        assert resolved is not None  # create=True never gives None
        self._cache[dir_parts] = resolved
        return resolved

    def _clear_cache(self) -> None:
        for resolved in self._cache.values():
            os.close(resolved.fd)
        self._cache.clear()
        self._by_name.clear()
        self._plain_dirs.clear()

    # -- removal -------------------------------------------------------------------------------

    def _remove(self, dir_fd: int, leaf: str, key: str) -> None:
        """``rm -rf`` of ``leaf`` in ``dir_fd`` without following it; a failure fails the layer."""
        try:
            info = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        try:
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(leaf, dir_fd=dir_fd)
                prefix = key + "/"
                for gone in [k for k in self._dirs if k.startswith(prefix)]:
                    del self._dirs[gone]
            else:
                os.unlink(leaf, dir_fd=dir_fd)
        except OSError as err:
            raise UnpackError(f"remove {key}: {err.strerror or err}") from None
        self._dirs.pop(key, None)
        # A removed directory or link may be a component of a cached parent: forget them all.
        # The caller's own parent descriptor stays valid (it is not among what was removed).
        kept = {k: r for k, r in self._cache.items() if r.fd == dir_fd}
        for resolved in self._cache.values():
            if resolved.fd != dir_fd:
                os.close(resolved.fd)
        self._cache = kept
        # In place: ``apply_entries`` holds this dict.
        for name in [k for k, known in self._by_name.items() if known[0] != dir_fd]:
            del self._by_name[name]
        self._plain_dirs.clear()

    def _whiteout(self, name: str, dir_parts: list[str], target: str, layer: _Layer) -> None:
        """Remove ``target`` as lower layers left it; what this layer itself made stays (OCI spec)."""
        if target in ("", ".", ".."):
            raise UnpackError(f"{name}: invalid whiteout entry")
        parent = paths.resolve_dir(self._root_fd, dir_parts, create=False)
        if parent is None:
            return
        key = "/".join((*parent.parts, target))
        try:
            if key in layer.paths:
                self._log.debug("whiteout %s spares %s, made by the same layer", name, key)
                return
            if key in layer.dirs:
                # A directory this layer added children to: only the lower layers' content goes.
                try:
                    fd = os.open(target, _DIR_FLAGS, dir_fd=parent.fd)
                except OSError:
                    fd = -1
                if fd >= 0:
                    try:
                        self._hide_lower(paths.Resolved(fd, (*parent.parts, target)), layer)
                    finally:
                        os.close(fd)
                    return
            self._remove(parent.fd, target, key)
        finally:
            os.close(parent.fd)

    def _opaque(self, dir_parts: list[str], layer: _Layer) -> None:
        directory = paths.resolve_dir(self._root_fd, dir_parts, create=True)
        assert directory is not None
        try:
            self._hide_lower(directory, layer)
        finally:
            os.close(directory.fd)

    def _hide_lower(self, directory: paths.Resolved, layer: _Layer) -> None:
        """Remove what lower layers put in ``directory``, keeping what this layer added."""
        for child in sorted(os.listdir(directory.fd)):
            key = "/".join((*directory.parts, child))
            if key not in layer.paths and key not in layer.dirs:
                self._remove(directory.fd, child, key)
                continue
            info = os.stat(child, dir_fd=directory.fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                continue
            fd = os.open(
                child, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory.fd
            )
            try:
                self._hide_lower(paths.Resolved(fd, (*directory.parts, child)), layer)
            finally:
                os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(slots=True)
class _Layer:
    """Paths this layer created (``paths``) and the directories above them (``dirs``)."""

    paths: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    last_parent: tuple[str, ...] | None = None

    def add(self, parent: tuple[str, ...], key: str) -> None:
        self.paths.add(key)
        if parent != self.last_parent:
            self.add_dirs(parent)

    def add_dirs(self, parent: tuple[str, ...]) -> None:
        self.last_parent = parent
        for depth in range(len(parent), 0, -1):
            prefix = "/".join(parent[:depth])
            if prefix in self.dirs:
                break
            self.dirs.add(prefix)
