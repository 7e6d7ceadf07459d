"""``make demo`` runs ``demo/demo.py``: run it here so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo" / "demo.py"

ROOTFS_TREE = """\
rootfs/:
    drwxr-xr-x       etc
    -rw-r--r--    45 etc/motd
    lrwxrwxrwx       hello -> usr/local/bin/hello
    drwxr-xr-x       srv
    drwxr-xr-x       srv/www
    -rw-r--r--    15 srv/www/index.html
    drwxr-xr-x       usr
    drwxr-xr-x       usr/local
    drwxr-xr-x       usr/local/bin
    -rwxr-xr-x    24 usr/local/bin/hello
"""


def test_demo_runs_out_check_and_in_and_prints_the_rootfs() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=100, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    headers = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert headers == [
        "== 1. out: push the tarball as :latest and :1.0.0",
        "== 2. check: the current version of :latest",
        "== 3. in: fetch that version and unpack its rootfs",
        "== result: dest/",
    ]
    assert '"value": "latest 1.0.0"' in result.stdout
    assert ROOTFS_TREE in result.stdout
    assert result.stdout.endswith("\ndemo finished: out, check and in all succeeded.\n")
