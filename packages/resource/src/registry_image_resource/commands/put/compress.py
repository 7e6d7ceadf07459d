"""Gzip of an uncompressed layer on several cores, as a stream of chunks in order.

The layer is cut into fixed blocks of ``BLOCK`` bytes; each block is deflated on its own by
``isal`` (which releases the GIL) in a shared pool, and the raw deflate pieces are joined behind
one gzip header and before one trailer: every block but the last ends with a full flush (byte
aligned, no final bit, no reference back into the previous block), so the result is one ordinary
gzip member, as pigz writes it. The output depends only on the input bytes, ``BLOCK`` and
``LEVEL`` (never on the number of cores or on timing), so the same layer always gets the same
digest; its uncompressed bytes (the diff_id) are untouched.

This module owns that format and the bound on memory (at most ``AHEAD`` blocks of a layer in
flight). It must never touch the network and never hold a whole layer.
"""

from __future__ import annotations

import concurrent.futures
import struct
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from registry_image_resource.errors import InputError

#: isal's fastest level: ggcr compresses with gzip.BestSpeed too.
LEVEL = 1
#: Input bytes per independently compressed block; part of the output format (digests depend on it).
BLOCK = 1 << 20
#: Blocks of one layer read and queued for compression ahead of the one being sent.
AHEAD = 3

# gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown" (as Go writes it).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def deflate_block(data: bytes, last: bool) -> bytes:
    """``data`` as raw deflate that can be followed by the next block's (or ends the stream)."""
    from isal import isal_zlib

    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
    head = compressor.compress(data)
    return head + compressor.flush(isal_zlib.Z_FINISH if last else isal_zlib.Z_FULL_FLUSH)


def gzip_chunks(
    path: Path, offset: int, size: int, pool: concurrent.futures.Executor, *, ahead: int | None = None
) -> Iterator[bytes]:
    """The gzip stream of ``size`` bytes at ``offset`` of ``path``, compressed in ``pool``.

    Yields the header, each block's deflate output in order and the trailer. Reading happens in
    the caller's thread, ``ahead`` (``AHEAD``) blocks before the one it is waiting for.
    """
    from isal import isal_zlib

    ahead = AHEAD if ahead is None else ahead
    crc = 0
    pending: deque[concurrent.futures.Future[bytes]] = deque()
    with open(path, "rb") as file:
        file.seek(offset)
        remaining = size
        yield _HEADER
        try:
            while True:
                while remaining and len(pending) < ahead:
                    block = file.read(min(BLOCK, remaining))
                    if not block:
                        raise InputError(f"{path}: file ended {remaining} bytes early")
                    remaining -= len(block)
                    crc = isal_zlib.crc32(block, crc)
                    pending.append(pool.submit(deflate_block, block, remaining == 0))
                if not pending:
                    break
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
    if size == 0:
        yield deflate_block(b"", True)
    yield struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def compression_pool() -> concurrent.futures.ThreadPoolExecutor:
    """One worker per core: the blocks of every layer being pushed share it."""
    import os

    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, len(os.sched_getaffinity(0))), thread_name_prefix="gzip"
    )
