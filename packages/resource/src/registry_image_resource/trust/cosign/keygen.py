"""``registry-image-resource cosign-keygen DIR``: a cosign key pair for users without cosign.

Owns writing ``DIR/cosign.key`` (``ENCRYPTED COSIGN PRIVATE KEY``, scrypt N=32768, r=8, p=1: the
only parameters containers/image 5.23 accepts, and cosign reads them too) and ``DIR/cosign.pub``.
The password comes from ``COSIGN_PASSWORD`` when it is set (even empty, as with cosign), else from
a prompt on the terminal, asked twice. It never overwrites a key and never prints the password.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from registry_image_resource.errors import InputError, RequestError
from registry_image_resource.trust.cosign.keys import generate_key_pair

__all__ = ["keygen"]

USAGE = "usage: registry-image-resource cosign-keygen DIR"


def _prompted(prompt: Callable[[str], str] | None) -> str:
    if prompt is None:
        raise RequestError("no password: set COSIGN_PASSWORD, or run cosign-keygen in a terminal")
    first = prompt("Enter password for private key: ")
    if prompt("Enter password for private key again: ") != first:
        raise RequestError("the passwords do not match")
    return first


def keygen(args: list[str], env: Mapping[str, str], prompt: Callable[[str], str] | None) -> list[str]:
    """Write the key pair into ``args[0]``; returns the lines to print. ``prompt`` None: no terminal."""
    if len(args) != 1:
        raise RequestError(USAGE)
    directory = Path(args[0])
    if not directory.is_dir():
        raise InputError(f"cosign-keygen: {directory} is not a directory")
    private_path, public_path = directory / "cosign.key", directory / "cosign.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise InputError(f"cosign-keygen: {path} already exists; not overwriting it")
    password = env["COSIGN_PASSWORD"] if "COSIGN_PASSWORD" in env else _prompted(prompt)
    pair = generate_key_pair(password)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pair.private_pem)
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(pair.public_pem)
    except OSError as err:
        raise InputError(f"cosign-keygen: cannot write {err.filename}: {err.strerror}") from None
    return [f"Private key written to {private_path}", f"Public key written to {public_path}"]
