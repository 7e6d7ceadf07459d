"""``NotaryClient``: drive the real ``notary`` command-line client in tests.

Owns the glue the client needs to talk to a stub (or any Notary server): a config file with
``trust_dir``, ``remote_server.url`` and ``remote_server.root_ca``, passphrases through the
``NOTARY_*_PASSPHRASE`` variables and credentials through ``NOTARY_AUTH``, never on the command
line. It never installs the client; ``notary`` must be on PATH (Debian package ``notary``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NotaryClient", "NotaryCommandError", "Target"]


class NotaryCommandError(RuntimeError):
    """The ``notary`` command failed; ``output`` holds its stdout and stderr."""

    def __init__(self, args: list[str], returncode: int, output: str) -> None:
        super().__init__(f"notary {' '.join(args)} exited {returncode}:\n{output}")
        self.returncode = returncode
        self.output = output


@dataclass(frozen=True, slots=True)
class Target:
    """One row of ``notary list``: the target's sha256 (hex), length and signing role."""

    name: str
    sha256: str
    length: int
    role: str


@dataclass(frozen=True, slots=True)
class NotaryClient:
    """The real ``notary`` client pointed at ``server_url`` with its own trust directory."""

    directory: Path
    server_url: str
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    passphrase: str = field(default="notary-stub-passphrase", repr=False)
    binary: str = "notary"

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def config_file(self) -> Path:
        return self.directory / "config.json"

    def _write_config(self) -> None:
        remote: dict[str, str] = {"url": self.server_url}
        if self.ca_file is not None:
            remote["root_ca"] = str(self.ca_file)
        config = {"trust_dir": str(self.trust_dir), "remote_server": remote}
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(config))

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for role in ("ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"):
            env[f"NOTARY_{role}_PASSPHRASE"] = self.passphrase
        if self.username is not None:
            env["NOTARY_AUTH"] = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
        return env

    def run(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``notary -c CONFIG ARGS...``; raise ``NotaryCommandError`` on failure when ``check``."""
        binary = shutil.which(self.binary)
        if binary is None:
            raise FileNotFoundError(f"the notary client ({self.binary}) is not on PATH")
        self._write_config()
        command = [binary, "-c", str(self.config_file), *args]
        result = subprocess.run(
            command, input=stdin, capture_output=True, env=self.environment(), timeout=120, check=False
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise NotaryCommandError(list(args), result.returncode, output)
        return result

    def list_targets(self, gun: str) -> list[Target]:
        """``notary list GUN`` parsed into rows (in the client's order)."""
        output = self.run("list", gun).stdout.decode()
        rows: list[Target] = []
        for line in output.splitlines()[2:]:
            parts = line.split()
            if len(parts) >= 4:
                rows.append(Target(parts[0], parts[1], int(parts[2]), parts[3]))
        return rows

    def key_files(self) -> list[Path]:
        """The private key files in the trust directory (``private/<key id>.key``)."""
        directory = self.trust_dir / "private"
        return sorted(directory.glob("*.key")) if directory.is_dir() else []
