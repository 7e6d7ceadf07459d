"""A forward-only tar reader over any binary stream (a decompressor, a socket, a growing file).

This module owns the tar wire format: 512-byte headers (plain ustar/GNU headers decoded here with
a fast path, anything unusual such as base-256 numbers by ``tarfile.TarInfo.frombuf``),
PAX extended headers, GNU long names and links, and the data blocks and padding in between. It
reads each byte once, in order, with a reused buffer, and keeps nothing per entry once the caller
moves on, so memory stays flat whatever the layer holds. ``tarfile.TarFile`` is not used: in
stream mode it copies its buffer on every small read and remembers every member. This module
must never touch the filesystem.
"""

from __future__ import annotations

import struct
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from registry_image_resource.errors import UnpackError

BLOCK = 512
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"

REGULAR = frozenset({tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE})
HARDLINK = tarfile.LNKTYPE
SYMLINK = tarfile.SYMTYPE
DIRECTORY = tarfile.DIRTYPE
FIFO = tarfile.FIFOTYPE
DEVICES = frozenset({tarfile.CHRTYPE, tarfile.BLKTYPE})
GLOBAL_PAX = tarfile.XGLTYPE
# Types whose size field does not announce data blocks (Go's archive/tar and tarfile agree).
_HEADER_ONLY = frozenset({HARDLINK, SYMLINK, DIRECTORY, FIFO, *DEVICES})


class Readable(Protocol):
    """What the reader needs from a stream: ``readinto`` (0 or ``None`` only at the end)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar member as the unpacker needs it (numeric ids; times in nanoseconds)."""

    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    atime_ns: int | None
    linkname: str

    @property
    def type_char(self) -> str:
        return self.type.decode("latin-1")


class _Header(NamedTuple):
    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str


_POSIX_MAGIC = b"ustar\x0000"


# name, mode, uid, gid, size, mtime, checksum, type, linkname, magic+version
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s")
_NULS = b" \0"


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)


def _checksum_matches(block: bytes, stored: int, field: bytes) -> bool:
    """The unsigned header checksum, compared modulo 65521 through zlib's C adler32.

    Adler-32's low half is ``1 + sum(bytes) mod 65521``; a byte sum of 512 bytes is below
    2 * 65521, so this accepts the right sum and only a rare wrong one. Integrity comes from the
    blob digest anyway: the checksum only tells a header from garbage. A miss goes to tarfile,
    which also knows the signed variant.
    """
    low = (zlib.adler32(block) & 0xFFFF) - 1
    return (stored - 256 + sum(field)) % 65521 == low % 65521


def _decode_header(block: bytes) -> _Header:
    """Decode one header block: a fast path for plain octal ustar/GNU headers, else ``frombuf``."""
    # Base-256 numbers (huge ids, sizes, negative times) set the top bit of a field's first byte.
    if not (block[100] | block[108] | block[116] | block[124] | block[136] | block[329] | block[337]) & 0x80:
        name, mode, uid, gid, size, mtime, checksum, kind, link, magic = _USTAR.unpack_from(block)
        try:
            # Garbage after a NUL makes int() fail, and the header goes to tarfile's decoder.
            if _checksum_matches(block, int(checksum.strip(_NULS) or b"0", 8), checksum):
                text = _text(name)
                if magic == _POSIX_MAGIC and block[345] and kind not in tarfile.GNU_TYPES:
                    text = _text(block[345:500]) + "/" + text
                if kind == tarfile.AREGTYPE and text.endswith("/"):
                    kind = tarfile.DIRTYPE
                return _Header(
                    text,
                    kind,
                    int(mode.strip(_NULS) or b"0", 8),
                    int(uid.strip(_NULS) or b"0", 8),
                    int(gid.strip(_NULS) or b"0", 8),
                    int(size.strip(_NULS) or b"0", 8),
                    int(mtime.strip(_NULS) or b"0", 8),
                    _text(link) if link[0] else "",
                )
        except ValueError:
            pass
    try:
        info = tarfile.TarInfo.frombuf(block, _ENCODING, _ERRORS)
    except tarfile.HeaderError as err:
        raise UnpackError(f"invalid tar header: {err}") from None
    return _Header(
        info.name, info.type, info.mode, info.uid, info.gid, info.size, int(info.mtime), info.linkname
    )


def _time_ns(text: str) -> int:
    """PAX times are decimal seconds with an optional fraction (``1700000000.123456789``)."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    value = int(whole or "0") * 1_000_000_000 + int((fraction + "000000000")[:9])
    return -value if negative else value


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise UnpackError("invalid PAX header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise UnpackError("invalid PAX header") from None
        record = data[space + 1 : pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise UnpackError("invalid PAX header")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode(_ENCODING, _ERRORS)] = value.decode(_ENCODING, _ERRORS)
        pos += length
    return records


class TarReader:
    """Iterate the entries of a tar stream; read the current entry's data before the next one.

    ``for entry in reader:`` yields ``Entry`` objects; ``reader.readinto(view)`` reads the current
    entry's data. Whatever the caller leaves unread is skipped when the next entry is requested.
    """

    def __init__(self, stream: Readable, *, chunk: int = 1 << 20) -> None:
        self._stream = stream
        self._remaining = 0
        self._padding = 0
        self._scratch = bytearray(chunk)

    def _read_exact(self, view: memoryview) -> None:
        got = 0
        while got < len(view):
            n = self._stream.readinto(view[got:])
            if not n:
                raise UnpackError("unexpected end of layer (truncated tar stream)")
            got += n

    def _skip(self, count: int) -> None:
        view = memoryview(self._scratch)
        while count:
            step = min(count, len(view))
            self._read_exact(view[:step])
            count -= step

    def _read_block(self) -> bytes | None:
        """The next header block, or ``None`` at a clean end of stream."""
        block = bytearray(BLOCK)
        view = memoryview(block)
        got = 0
        while got < BLOCK:
            n = self._stream.readinto(view[got:])
            if not n:
                if got == 0:
                    return None
                raise UnpackError("unexpected end of layer (truncated tar header)")
            got += n
        return bytes(block)

    def _read_data(self, size: int) -> bytes:
        """A whole (small) extension payload plus its padding."""
        if size > 1 << 24:
            raise UnpackError("tar extension header too large")
        data = bytearray(size)
        self._read_exact(memoryview(data))
        self._skip(-size % BLOCK)
        return bytes(data)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` (or less at the entry's end) with the current entry's data."""
        step = min(len(view), self._remaining)
        if step:
            self._read_exact(view[:step])
            self._remaining -= step
        return step

    def read(self, size: int) -> bytes:
        data = bytearray(min(size, self._remaining))
        got = self.readinto(memoryview(data))
        return bytes(data[:got])

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        self._skip(self._remaining + self._padding)
        self._remaining = self._padding = 0
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            block = self._read_block()
            if block is None or block.count(0) == BLOCK:
                raise StopIteration
            info = _decode_header(block)
            if info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
                pax.update(_parse_pax(self._read_data(info.size)))
                continue
            if info.type == tarfile.GNUTYPE_LONGNAME:
                long_name = self._read_data(info.size).split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
                continue
            if info.type == tarfile.GNUTYPE_LONGLINK:
                long_link = self._read_data(info.size).split(b"\0", 1)[0].decode(_ENCODING, _ERRORS)
                continue
            return self._entry(info, pax, long_name, long_link)

    def _entry(
        self, info: _Header, pax: dict[str, str], long_name: str | None, long_link: str | None
    ) -> Entry:
        name = pax.get("path", long_name if long_name is not None else info.name)
        linkname = pax.get("linkpath", long_link if long_link is not None else info.linkname)
        try:
            size = int(pax["size"]) if "size" in pax else info.size
            uid = int(pax["uid"]) if "uid" in pax else info.uid
            gid = int(pax["gid"]) if "gid" in pax else info.gid
            mtime_ns = _time_ns(pax["mtime"]) if "mtime" in pax else int(info.mtime) * 1_000_000_000
            atime_ns = _time_ns(pax["atime"]) if "atime" in pax else None
        except ValueError:
            raise UnpackError(f"{name}: invalid number in PAX header") from None
        if size < 0:
            raise UnpackError(f"{name}: negative size")
        if any(key.startswith("GNU.sparse.") for key in pax) or info.type == tarfile.GNUTYPE_SPARSE:
            raise UnpackError(f"{name}: unsupported entry type (sparse file)")
        data = 0 if info.type in _HEADER_ONLY else size
        self._remaining = data
        self._padding = -data % BLOCK
        return Entry(
            name=name,
            type=info.type,
            mode=info.mode & 0o7777,
            uid=uid,
            gid=gid,
            size=data,
            mtime_ns=mtime_ns,
            atime_ns=atime_ns,
            linkname=linkname,
        )
