"""Resolving names inside a rootfs as if it were ``/`` (chroot semantics, SPEC A.2.1).

This module owns turning an archive path into "an open directory plus one leaf name" without ever
leaving the rootfs: ``..`` at the top stays at the top, and a symlink met on the way is followed
by re-reading its target relative to the rootfs (absolute targets restart at the rootfs), the way
umoci's ``SecureJoin`` and containerd do. Every component is opened with ``O_NOFOLLOW`` relative
to its parent's descriptor, so the kernel never follows a link on our behalf. This module must
never follow the *last* component of a name (callers act on the link itself) and never return a
descriptor of a directory outside the rootfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass

MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def clean(name: str) -> list[str]:
    """The components of ``name`` cleaned lexically as a rooted path (``..`` at the top is dropped)."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


def escapes(name: str) -> bool:
    """Whether ``name``, joined to a directory and cleaned lexically, climbs above that directory.

    This is the Go resource's hard-link rule: ``../../etc/passwd`` points outside, ``/etc/passwd``
    does not (it is joined, not taken as absolute).
    """
    depth = 0
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


@dataclass(frozen=True, slots=True)
class Resolved:
    """An open directory inside the rootfs (``fd``, owned by the caller) and its real path parts."""

    fd: int
    parts: tuple[str, ...]

    @property
    def path(self) -> str:
        return "/".join(self.parts)


def resolve_dir(root_fd: int, parts: list[str], *, create: bool) -> Resolved | None:
    """Open the directory ``parts`` names inside the rootfs open as ``root_fd``.

    Symlinks among ``parts`` are followed with the rootfs as ``/``. Missing directories are made
    (mode 0755) when ``create`` is true; otherwise a missing one gives ``None``. A component that
    exists but is not a directory (nor a link to one) raises ``NotADirectoryError``; more than
    ``MAX_SYMLINKS`` links raise ``OSError(ELOOP)``, as the kernel would.
    """
    stack: list[int] = []
    names: list[str] = []
    todo = list(reversed(parts))
    links = 0
    try:
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if stack:
                    os.close(stack.pop())
                    names.pop()
                continue
            current = stack[-1] if stack else root_fd
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=current)
            except FileNotFoundError:
                if not create:
                    return None
                # Made meanwhile, or a dangling link: the retry below sorts it out.
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=current)
                todo.append(part)
                continue
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                info = os.stat(part, dir_fd=current, follow_symlinks=False)
                if not stat.S_ISLNK(info.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from None
                target = os.readlink(part, dir_fd=current)
                if target.startswith("/"):
                    for open_fd in stack:
                        os.close(open_fd)
                    stack.clear()
                    names.clear()
                todo.extend(reversed(target.split("/")))
                continue
            stack.append(fd)
            names.append(part)
        result = stack.pop() if stack else os.dup(root_fd)
        return Resolved(result, tuple(names))
    finally:
        for open_fd in stack:
            os.close(open_fd)
