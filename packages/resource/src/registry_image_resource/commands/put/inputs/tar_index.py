"""The member index of an uncompressed tarball that both input readers share.

Members are pushed straight from their offset in the tarball, never extracted; this module finds
them, following symlinks and hard links as ``tar`` writes them. It must never extract a member.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from registry_image_resource.commands.put.globbing import go_clean, go_join
from registry_image_resource.errors import InputError


@dataclass(frozen=True, slots=True)
class TarMember:
    """One entry of a tarball: regular files carry the offset and size of their data."""

    name: str
    kind: str  # "file", "symlink", "hardlink" or "other"
    offset: int = 0
    size: int = 0
    linkname: str = ""


def _clean_member_name(name: str) -> str:
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
