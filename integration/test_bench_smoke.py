"""``make bench`` runs ``python -m bench``: its quick mode runs here so the entry point cannot rot.

No timing is asserted (benchmarks report, tests do not time); only that every benchmark ran
against the reference tools and the table and the JSON came out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from integration.servers import RegistryServer, find_tool

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real_servers
@pytest.mark.timeout(300)
def test_bench_quick_runs_every_benchmark_and_prints_a_table(registry: RegistryServer) -> None:
    # The registry fixture proves a registry:2 can start; the scripts start their own.
    find_tool("skopeo")
    find_tool("umoci")

    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    headers = [line.split(":")[0] for line in lines if line.startswith("== ")]
    assert headers == [
        "== check",
        "== cosign",
        "== get",
        "== unpack-limits",
        "== put",
        "== put-limits",
        "== check-floor",
        "== fake-registry",
    ]
    table = [line for line in lines if line.startswith("| ")]
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == [
        "benchmark",
        "case",
        "ours s",
        "reference",
        "reference s",
        "ratio",
        "ours RSS MiB",
        "ref RSS MiB",
        "target",
    ]
    assert [row.split("|")[1].strip() for row in table[2:]] == [
        *["check"] * 4,
        *["cosign"] * 2,
        *["get"] * 3,
        *["unpack limits"] * 2,
        "put",
        *["put-limits"] * 2,
        *["check-floor"] * 4,
        *["fake registry"] * 6,
    ]
    document = json.loads(lines[-1])
    assert document["mode"] == "quick"
    assert document["failed"] == []
    assert sorted(document["raw"]) == [
        "check",
        "check-floor",
        "cosign",
        "fake-registry",
        "get",
        "put",
        "put-limits",
        "unpack-limits",
    ]
