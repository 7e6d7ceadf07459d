"""Children of a benchmark run the resource as the image does: the console script the image's
``/opt/resource/*`` scripts exec, with the bytecode of every module cached.

The image installs with pip, which compiles every module it installs. A development shell or tox
often sets ``PYTHONDONTWRITEBYTECODE=1``, and uv installs packages without compiling them, so a
timed ``check`` would compile h11 (and any other module without a cached ``.pyc``) from source on
every run: one tag-mode ``check`` against a loopback registry:2 took 433 million instructions
that way against 283 million with the bytecode cached (``valgrind --tool=callgrind``, this
machine, 2026-12-04). ``write_bytecode`` lets children write their bytecode, so each benchmark's
warm-up run leaves it in place for the timed runs. ``resource_command`` is the console script,
not ``python -m registry_image_resource``, which adds runpy and its imports to every run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["resource_command", "write_bytecode"]


def write_bytecode() -> None:
    """Let this process and every child it starts write (and so reuse) ``.pyc`` files."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def resource_command(*args: str) -> list[str]:
    """``registry-image-resource ARGS...`` beside this interpreter, as ``/opt/resource/check`` (``in``,
    ``out``) runs it in the image."""
    script = Path(sys.executable).parent / "registry-image-resource"
    if not script.exists():
        raise SystemExit(f"{script} is missing: install the resource package into this environment")
    return [sys.executable, str(script), *args]
