"""Benchmark (not a test): ``out`` of an OCI layout vs ``skopeo copy oci:DIR docker://...``.

The layout holds one image of 4 layers of about 64 MiB each (incompressible bytes labelled
gzip: a registry stores blobs as given, and neither tool recompresses them). Each run pushes to
a fresh repository of the same loopback registry, alternating the two tools; the table shows
medians of wall time and the peak RSS of each process. Targets (issue 6): ``out`` at most 0.8x
skopeo's time, peak RSS under 100 MiB.

    python bench/bench_put.py [--runs 5] [--layer-mib 64] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import resource_command, write_bytecode  # noqa: E402
from integration.servers import RegistryOptions, find_tool, start_registry  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def write_blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_random_blob(root: Path, mib: int) -> dict[str, Any]:
    """``mib`` MiB of random bytes, written 1 MiB at a time (this process must stay small: a
    child's peak RSS counts the parent's pages it was forked with)."""
    hasher = hashlib.sha256()
    partial = root / "blobs" / "sha256" / "partial"
    with open(partial, "wb") as file:
        for _ in range(mib):
            chunk = os.urandom(1024 * 1024)
            hasher.update(chunk)
            file.write(chunk)
    partial.rename(partial.with_name(hasher.hexdigest()))
    return {"digest": f"sha256:{hasher.hexdigest()}", "size": mib * 1024 * 1024}


def write_layout(root: Path, layers: int, layer_mib: int) -> None:
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layer_descriptors = []
    for _ in range(layers):
        layer_descriptors.append({"mediaType": OCI_LAYER_GZIP, **write_random_blob(root, layer_mib)})
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **write_blob(root, config.encode()),
            },
            "layers": layer_descriptors,
        }
    ).encode()
    descriptor = {
        "mediaType": OCI_MANIFEST,
        **write_blob(root, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    (root / "index.json").write_text(json.dumps(index))


def timed(
    argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process; fails loudly when it exits non-zero."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=output, env=env)
        assert process.stdin is not None
        process.stdin.write((stdin or "").encode())
        process.stdin.close()
        # wait4, not wait: the rusage is this child's own, not the maximum over all children.
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"{argv[0]} failed ({process.returncode}):\n{output.read().decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args()
    write_bytecode()

    skopeo = find_tool("skopeo")
    with tempfile.TemporaryDirectory(prefix="bench-put-") as tmp:
        workdir = Path(tmp)
        layout = workdir / "src" / "layout"
        write_layout(layout, args.layers, args.layer_mib)
        env = {**os.environ, "TEST": "true"}
        results: dict[str, list[tuple[float, float, float]]] = {"out": [], "skopeo": []}
        for run in range(args.runs):
            # A fresh registry (filesystem storage: registry:2's in-memory driver is quadratic in
            # blob size) per run, so neither tool finds blobs the other one, or an earlier run, left.
            registry_dir = workdir / f"registry-{run}"
            options = RegistryOptions(storage_dir=registry_dir / "storage")
            with start_registry(registry_dir, options) as server:
                order = ["out", "skopeo"] if run % 2 == 0 else ["skopeo", "out"]
                for tool in order:
                    repo = server.repository(f"bench/{tool}-{run}")
                    if tool == "out":
                        source = {"repository": repo, "tag": "latest"}
                        request = json.dumps({"source": source, "params": {"image": "layout"}})
                        argv = [*resource_command("out"), str(workdir / "src")]
                        results[tool].append(timed(argv, request, env))
                    else:
                        argv = [
                            skopeo,
                            "--insecure-policy",
                            "copy",
                            "--quiet",
                            "--dest-tls-verify=false",
                            f"oci:{layout}:latest",
                            f"docker://{repo}:latest",
                        ]
                        results[tool].append(timed(argv, None, env))
            shutil.rmtree(registry_dir, ignore_errors=True)

    summary = {
        tool: {
            "median_seconds": round(statistics.median(t for t, _, _ in runs), 3),
            "median_cpu_seconds": round(statistics.median(c for _, c, _ in runs), 3),
            "peak_rss_mib": round(max(r for _, _, r in runs), 1),
            "runs": [round(t, 3) for t, _, _ in runs],
        }
        for tool, runs in results.items()
    }
    summary["ratio_out_to_skopeo"] = round(
        summary["out"]["median_seconds"] / summary["skopeo"]["median_seconds"], 2
    )  # type: ignore[index]
    summary["image"] = {"layers": args.layers, "layer_mib": args.layer_mib}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"out of an OCI layout ({args.layers} x {args.layer_mib} MiB) to a fresh repository, {args.runs} runs each"
    )
    print(f"{'tool':<8} {'median s':>9} {'CPU s':>7} {'peak RSS MiB':>13}")
    for tool in ("out", "skopeo"):
        row = summary[tool]
        print(
            f"{tool:<8} {row['median_seconds']:>9.3f} {row['median_cpu_seconds']:>7.3f} {row['peak_rss_mib']:>13.1f}"
        )  # type: ignore[index]
    print(
        f"ratio out/skopeo: {summary['ratio_out_to_skopeo']} (target <= 0.8); out peak RSS target < 100 MiB"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
