"""Children of a benchmark run Python as the image does: with the bytecode of every module cached.

The image installs with pip, which compiles every module it installs. A development shell or tox
often sets ``PYTHONDONTWRITEBYTECODE=1``, and uv installs packages without compiling them, so a
timed ``check`` would compile h11 (and any other module without a cached ``.pyc``) from source on
every run: one tag-mode ``check`` against a loopback registry:2 took 433 million instructions
that way against 283 million with the bytecode cached (``valgrind --tool=callgrind``, this
machine, 2026-12-04). ``write_bytecode`` lets children write their bytecode, so each benchmark's
warm-up run leaves it in place for the timed runs.
"""

from __future__ import annotations

import os
import sys

__all__ = ["write_bytecode"]


def write_bytecode() -> None:
    """Let this process and every child it starts write (and so reuse) ``.pyc`` files."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
