"""Running the resource exactly as Concourse does: ``python -m registry_image_resource``, JSON on stdin.

Owns the subprocess call and a clean environment for it (only PATH, HOME, ``TEST=true`` and what a
test adds, such as proxy or AWS variables), so nothing from the developer's shell leaks in. It must
never talk to a registry itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    """One run: exit code, raw stdout and stderr, and stdout parsed when it is JSON."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def last_line(self) -> str:
        """The last stderr line: the error message on failure (SPEC A.1)."""
        lines = self.stderr.splitlines()
        return lines[-1] if lines else ""


def base_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "TEST": "true", **(extra or {})}


def run_resource(
    command: str,
    request: Mapping[str, Any],
    *args: str,
    env: Mapping[str, str],
    ok: bool | None = True,
    timeout: float = 300,
) -> Result:
    """Run ``command`` (check, in or out) with ``request`` on stdin.

    ``ok=True`` asserts exit 0, ``ok=False`` asserts exit 1 with nothing on stdout, ``None`` checks
    nothing.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "registry_image_resource", command, *args],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    if ok is True and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}\nstderr:\n{result.stderr}")
    if ok is False and (result.returncode != 1 or result.stdout != ""):
        raise AssertionError(
            f"{command} should fail with nothing on stdout: exit {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result
