"""Benchmark (not a test): ``in`` against the physical limits of unpacking, measured in one run.

Two scenarios of issue 17, each against its limit on the same machine and data, runs alternating
(ours, then the limit), medians of ``--runs``, destinations in a tmpfs (``--tmpfs``, default
``/dev/shm``) so that neither side waits for a disk:

1. **small files**: an image of one gzip layer of ``--files`` files of 64 to 200 bytes in 2,000
   directories. Ours: ``python -m registry_image_resource in DEST`` (``format: rootfs``, the
   whole process: start-up, fetch over loopback, decompression, files). Limit: GNU ``tar -xzf``
   of the same blob, already on the tmpfs, into the tmpfs (goal: at most 1.0x).
2. **large layers**: 4 gzip layers of about ``--layer-mib`` MiB (half random, half zeros, as
   ``bench_get.py``) plus a layer of ``--small-files`` files. Ours: the same ``in``. Limit: a
   sequential fetch of the 5 blobs from the same registry (plain HTTP/1.1 reads) each gunzipped
   by isal as it arrives, output discarded, in one Python process (goal: at most 1.5x).

The registry is the fixtures' loopback ``registry:2`` with filesystem storage, as in
``bench_get.py``. Run: ``python bench/bench_unpack_limits.py [--runs 3] [--only small|large] [--files 200000]
[--layer-mib 64] [--small-files 20000] [--tmpfs /dev/shm]``. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import statistics
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.bench_get import (  # noqa: E402
    MIB,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Measure,
    big_files,
    run_child,
    small_files,
    summary,
    upload,
    write_layer,
)
from bench.installed import resource_command, write_bytecode  # noqa: E402
from integration.servers import RegistryOptions, RegistryServer, start_registry  # noqa: E402

# The limit of scenario 2: fetch each blob in turn and gunzip it with isal as it arrives.
_FETCH_GUNZIP = """
import http.client, sys
from isal import isal_zlib
host, port = sys.argv[1].rsplit(":", 1)
total = 0
for path in sys.argv[2:]:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200, (path, response.status)
    inflate = isal_zlib.decompressobj(31)
    buffer = bytearray(1 << 20)
    while count := response.readinto(buffer):
        total += len(inflate.decompress(memoryview(buffer)[:count]))
    total += len(inflate.flush())
    conn.close()
print(total, file=sys.stderr)
"""


def many_small_files(count: int, directories: int = 2000) -> Callable[[tarfile.TarFile], None]:
    """``count`` files of 64 to 200 bytes spread over ``directories`` directories."""

    def add(archive: tarfile.TarFile) -> None:
        rng = random.Random(17)
        dirs = max(1, min(directories, count // 10))
        per_dir = max(1, count // dirs)
        for d in range(dirs):
            info = tarfile.TarInfo(f"usr/share/d{d:04}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_700_000_000
            archive.addfile(info)
            for f in range(per_dir):
                data = rng.randbytes(rng.randint(32, 100)).hex().encode()
                info = tarfile.TarInfo(f"usr/share/d{d:04}/file{f:04}.txt")
                info.size = len(data)
                info.mtime = 1_700_000_000
                archive.addfile(info, io.BytesIO(data))

    return add


def push_image(
    registry: RegistryServer, repo: str, layers: list[tuple[str, str, int]], paths: list[Path]
) -> str:
    """Upload ``layers`` (digest, diff_id, size) from ``paths`` plus a config and a manifest."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff, _ in layers]},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with requests.Session() as session:
        session.trust_env = False
        for (digest, _, _), path in zip(layers, paths, strict=True):
            upload(session, registry, repo, digest, path)
        config_path = paths[0].with_name("config.json")
        config_path.write_bytes(config)
        upload(session, registry, repo, config_digest, config_path)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": d, "size": s} for d, _, s in layers],
            }
        ).encode()
        response = session.put(
            f"{registry.url}/v2/{repo}/manifests/latest",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            timeout=60,
        )
        response.raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def ours(registry: RegistryServer, repo: str, digest: str, tmpfs: Path) -> Measure:
    request = json.dumps(
        {
            "source": {"repository": registry.repository(repo)},
            "version": {"tag": "latest", "digest": digest},
            "params": {"format": "rootfs"},
        }
    )
    dest = Path(tempfile.mkdtemp(prefix="in-", dir=tmpfs))
    try:
        return run_child([*resource_command("in"), str(dest)], request)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def gnu_tar(blob: Path, tmpfs: Path) -> Measure:
    dest = Path(tempfile.mkdtemp(prefix="tar-", dir=tmpfs))
    try:
        return run_child(["tar", "-xzf", str(blob), "-C", str(dest)])
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def fetch_gunzip(registry: RegistryServer, repo: str, digests: list[str]) -> Measure:
    paths = [f"/v2/{repo}/blobs/{digest}" for digest in digests]
    return run_child([sys.executable, "-c", _FETCH_GUNZIP, registry.url.split("://", 1)[1], *paths])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=200_000, help="files in scenario 1's layer")
    parser.add_argument("--layer-mib", type=int, default=64)
    parser.add_argument("--small-files", type=int, default=20_000, help="files in scenario 2's small layer")
    parser.add_argument("--tmpfs", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--only", choices=("small", "large"), default=None, help="run one scenario (both by default)"
    )
    args = parser.parse_args()
    write_bytecode()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-unpack-"))
    workdir.mkdir(parents=True, exist_ok=True)
    tmpfs = Path(tempfile.mkdtemp(prefix="bench-unpack-", dir=args.tmpfs))
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    results: dict[str, object] = {"runs": args.runs, "files": args.files, "layer_mib": args.layer_mib}
    small_ours: list[Measure] = []
    small_tar: list[Measure] = []
    large_ours: list[Measure] = []
    large_limit: list[Measure] = []
    try:
        with start_registry(workdir / "registry", RegistryOptions(storage_dir=storage)) as registry:
            print(f"registry {registry.url} ({registry.backend}); building the images...", flush=True)
            small_digest = large_digest = ""
            layers: list[tuple[str, str, int]] = []
            blob = tmpfs / "small.tar.gz"
            if args.only != "large":
                small = write_layer(blob, many_small_files(args.files))
                small_digest = push_image(registry, "bench/unpack-small", [small], [blob])
            if args.only != "small":
                blobs = workdir / "blobs"
                blobs.mkdir(exist_ok=True)
                paths = [blobs / f"big{seed}.tar.gz" for seed in range(4)] + [blobs / "small.tar.gz"]
                layers = [write_layer(paths[s], big_files(2 * args.layer_mib * MIB, s)) for s in range(4)]
                layers.append(write_layer(paths[4], small_files(args.small_files)))
                large_digest = push_image(registry, "bench/unpack-large", layers, paths)
                shutil.rmtree(blobs)

            for run in range(args.runs):
                line = f"run {run + 1}:"
                if small_digest:
                    small_ours.append(ours(registry, "bench/unpack-small", small_digest, tmpfs))
                    small_tar.append(gnu_tar(blob, tmpfs))
                    line += (
                        f" small files {small_ours[-1][0]:.2f}s vs tar -xzf {small_tar[-1][0]:.2f}s"
                        f" ({small_ours[-1][0] / small_tar[-1][0]:.2f}x);"
                    )
                if large_digest:
                    large_ours.append(ours(registry, "bench/unpack-large", large_digest, tmpfs))
                    large_limit.append(
                        fetch_gunzip(registry, "bench/unpack-large", [d for d, _, _ in layers])
                    )
                    line += (
                        f" large layers {large_ours[-1][0]:.2f}s vs fetch + gunzip {large_limit[-1][0]:.2f}s"
                        f" ({large_ours[-1][0] / large_limit[-1][0]:.2f}x)"
                    )
                print(line, flush=True)
    finally:
        shutil.rmtree(tmpfs, ignore_errors=True)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    rows: list[tuple[str, float, float, float]] = []
    if small_ours:
        rows += [
            ("small files: in", *summary(small_ours)),
            ("small files: GNU tar -xzf (tmpfs)", *summary(small_tar)),
        ]
    if large_ours:
        rows += [
            ("large layers: in", *summary(large_ours)),
            ("large layers: fetch + isal gunzip", *summary(large_limit)),
        ]
    print()
    print(f"{'case':40} {'median s':>9} {'peak RSS MiB':>13} {'CPU s':>8}")
    for name, seconds, rss, cpu in rows:
        print(f"{name:40} {seconds:9.2f} {rss:13.1f} {cpu:8.2f}")
    results["rows"] = [
        {"case": n, "median_s": round(s, 3), "peak_rss_mib": round(r, 1), "cpu_s": round(c, 3)}
        for n, s, r, c in rows
    ]
    # Per-run ratios too: the machine's speed drifts, and a run's pair shares its conditions.
    for name, mine, limit, goal, what in (
        ("small", small_ours, small_tar, 1.0, "in/tar"),
        ("large", large_ours, large_limit, 1.5, "in/(fetch + gunzip)"),
    ):
        if not mine:
            continue
        ratio = summary(mine)[0] / summary(limit)[0]
        per_run = statistics.median(a[0] / b[0] for a, b in zip(mine, limit, strict=True))
        print(f"\n{name} {what} = {ratio:.2f} (median of runs {per_run:.2f}; goal <= {goal})")
        results[f"{name}_ratio"] = round(ratio, 3)
        results[f"{name}_ratio_per_run_median"] = round(per_run, 3)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
