"""Creating one entry of each kind in an already resolved parent directory (a ``Rootfs`` part).

This module owns what a regular file, directory, symlink, hard link or FIFO entry does once its
parent is an open descriptor inside the rootfs: create the leaf without following it
(``O_EXCL``/``O_NOFOLLOW``, ``*at`` calls), replace what was there through ``Rootfs._remove``, and
set owner, mode and times with the fewest syscalls: a file is created with its permission bits,
``fchown`` runs only when it changes something, and everything else acts on the open file. It must
never resolve a name itself (``Rootfs`` hands it the parent) nor follow the leaf.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from registry_image_resource.errors import UnpackError
from registry_image_resource.unpack import paths
from registry_image_resource.unpack.tarstream import Entry, EntryReader

_open, _write, _utime, _close = os.open, os.write, os.utime, os.close
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class DirMeta:
    """A directory's times and mode, restored by ``Rootfs.finish`` once every layer is applied."""

    atime_ns: int
    mtime_ns: int
    mode: int


class EntryWriter:
    """The per-kind creators ``Rootfs`` inherits; the state they share is declared here."""

    chown: bool
    _root_fd: int
    _umask: int
    _owner: tuple[int, int]
    _plain_dirs: dict[int, bool]
    _dirs: dict[str, DirMeta]

    def _remove(self, dir_fd: int, leaf: str, key: str) -> None:
        raise NotImplementedError

    def _times(self, entry: Entry) -> tuple[int, int]:
        atime = entry.mtime_ns if entry.atime_ns is None else max(entry.atime_ns, entry.mtime_ns)
        return atime, entry.mtime_ns

    def _file(self, dir_fd: int, leaf: str, key: str, entry: Entry, reader: EntryReader) -> None:
        # Created with its permission bits, so most files need no chmod afterwards (an fd opened
        # by O_CREAT can write even to a 0444 file).
        permissions = entry.mode & 0o777
        try:
            fd = _open(leaf, _CREATE_FLAGS, permissions, dir_fd=dir_fd)
        except FileExistsError:
            self._remove(dir_fd, leaf, key)
            fd = _open(leaf, _CREATE_FLAGS, permissions, dir_fd=dir_fd)
        try:
            left = entry.size
            while left:
                # ``chunk`` raises rather than come back empty before the end: one call for a
                # small file.
                chunk = reader.chunk()
                left -= len(chunk)
                while chunk:
                    chunk = chunk[_write(fd, chunk) :]
            if self.chown and (
                (entry.uid, entry.gid) != self._owner
                or (not self._plain_dirs.get(dir_fd, False) and self._in_setgid_dir(dir_fd))
            ):
                os.fchown(fd, entry.uid, entry.gid)
            # chown cleared any setuid/setgid; the umask may have cleared permission bits.
            if entry.mode & 0o7000 or permissions & self._umask:
                os.fchmod(fd, entry.mode)
            atime, mtime = entry.atime_ns, entry.mtime_ns
            _utime(fd, ns=(mtime if atime is None or atime < mtime else atime, mtime))
        finally:
            _close(fd)

    def _in_setgid_dir(self, dir_fd: int) -> bool:
        """Whether ``dir_fd`` is setgid, so a file made in it has its group, not ours.

        Otherwise a new file already belongs to our effective ids, and a file whose entry names
        them needs no ``fchown``: one syscall of five saved. Looked up once per cached parent
        (forgotten whenever a directory's mode changes or a cached descriptor is closed).
        """
        plain = self._plain_dirs.get(dir_fd)
        if plain is None:
            plain = not os.fstat(dir_fd).st_mode & stat.S_ISGID
            self._plain_dirs[dir_fd] = plain
        return not plain

    def _directory(self, dir_fd: int, leaf: str, key: str, entry: Entry) -> None:
        self._plain_dirs.clear()
        try:
            os.mkdir(leaf, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            info = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode):
                self._remove(dir_fd, leaf, key)
                os.mkdir(leaf, 0o700, dir_fd=dir_fd)
        fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            if self.chown:
                os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, entry.mode)
            else:
                # Keep our own way in until ``finish`` sets the real mode.
                os.fchmod(fd, entry.mode | stat.S_IRWXU)
        finally:
            os.close(fd)
        atime, mtime = self._times(entry)
        self._dirs[key] = DirMeta(atime, mtime, entry.mode)

    def _symlink(self, dir_fd: int, leaf: str, key: str, entry: Entry) -> None:
        try:
            os.symlink(entry.linkname, leaf, dir_fd=dir_fd)
        except FileExistsError:
            self._remove(dir_fd, leaf, key)
            os.symlink(entry.linkname, leaf, dir_fd=dir_fd)
        if self.chown:
            os.chown(leaf, entry.uid, entry.gid, dir_fd=dir_fd, follow_symlinks=False)
        os.utime(leaf, ns=self._times(entry), dir_fd=dir_fd, follow_symlinks=False)

    def _hardlink(self, dir_fd: int, leaf: str, key: str, entry: Entry) -> None:
        if paths.escapes(entry.linkname):
            raise UnpackError(f"entry '{entry.name}' links outside of target directory: {entry.linkname}")
        target = paths.clean(entry.linkname)
        if not target:
            raise UnpackError(f"entry '{entry.name}' links to the root directory")
        source = paths.resolve_dir(self._root_fd, target[:-1], create=False)
        if source is None:
            raise UnpackError(f"entry '{entry.name}' links to a missing file: {entry.linkname}")
        try:
            try:
                os.link(target[-1], leaf, src_dir_fd=source.fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                self._remove(dir_fd, leaf, key)
                os.link(target[-1], leaf, src_dir_fd=source.fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise UnpackError(f"entry '{entry.name}' links to a missing file: {entry.linkname}") from None
        finally:
            os.close(source.fd)

    def _fifo(self, dir_fd: int, leaf: str, key: str, entry: Entry) -> None:
        try:
            os.mkfifo(leaf, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            self._remove(dir_fd, leaf, key)
            os.mkfifo(leaf, 0o600, dir_fd=dir_fd)
        if self.chown:
            os.chown(leaf, entry.uid, entry.gid, dir_fd=dir_fd, follow_symlinks=False)
        # The leaf is the FIFO just made (no link to follow); chmod does not open it.
        os.chmod(leaf, entry.mode, dir_fd=dir_fd)
        os.utime(leaf, ns=self._times(entry), dir_fd=dir_fd, follow_symlinks=False)
