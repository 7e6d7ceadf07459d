"""Benchmark of ``in`` (not a test: it prints numbers) against skopeo and umoci on a local registry:2.

Image: 4 gzip layers of about ``--layer-mib`` MiB each (compressed; half random, half zeros) plus
one layer of 20,000 small files, pushed to a loopback ``registry:2`` (the integration fixtures'
binary or container). Then, alternating runs, median of ``--runs``:

1. ``format: rootfs``: ``python -m registry_image_resource in DEST`` against
   ``skopeo copy docker://… oci:DIR:tag`` followed by ``umoci raw unpack`` (target: ratio <= 0.6);
2. ``format: oci``: the same ``in`` against ``skopeo copy docker://… docker-archive:FILE``;
3. peak RSS of ``in`` (target < 100 MiB), and again with layers ``--scale`` times larger to show
   it does not grow with the layer size;
4. with ``--zstd``: the same image with zstd layers, ``in`` (rootfs) against ``skopeo copy
   docker://… oci:DIR`` alone (umoci 0.4.7, Debian 12's, cannot unpack zstd layers and skopeo
   cannot write them to a docker-archive, so theirs is the download only: a lower bound).

Run: ``python bench/bench_get.py [--layer-mib 64] [--runs 3] [--scale 4] [--small-files 20000]
[--zstd] [--workdir DIR]``.
Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.installed import resource_command, write_bytecode  # noqa: E402
from integration.servers import RegistryOptions, RegistryServer, start_registry  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MIB = 1 << 20


class _Hashing(io.RawIOBase):
    """A write-only file that hashes and counts what goes through to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def write_layer(
    path: Path, add: Callable[[tarfile.TarFile], None], compression: str = "gzip"
) -> tuple[str, str, int]:
    """Write a gzip (or zstd) layer to ``path``; returns (digest, diff_id, size)."""
    from isal import igzip

    with path.open("wb") as raw:
        outer = _Hashing(raw)
        if compression == "zstd":
            import zstandard

            compressor: IO[bytes] = zstandard.ZstdCompressor(level=3).stream_writer(
                cast(IO[bytes], outer), closefd=False
            )
        else:
            gzip_writer = igzip.IGzipFile(  # type: ignore[no-untyped-call]
                fileobj=outer, mode="wb", compresslevel=1, mtime=0
            )
            compressor = cast(IO[bytes], gzip_writer)
        with compressor as gz:
            inner = _Hashing(gz)
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as archive:
                add(archive)
    return f"sha256:{outer.sha.hexdigest()}", f"sha256:{inner.sha.hexdigest()}", outer.size


def big_files(total: int, seed: int) -> Callable[[tarfile.TarFile], None]:
    def add(archive: tarfile.TarFile) -> None:
        rng = random.Random(seed)
        per_file = 8 * MIB
        for index in range(max(1, total // per_file)):
            info = tarfile.TarInfo(f"data{seed}/file{index:04}")
            info.size = per_file
            info.mtime = 1_700_000_000
            block = b"".join(
                rng.randbytes(32 * 1024) + bytes(32 * 1024) for _ in range(per_file // (64 * 1024))
            )
            archive.addfile(info, io.BytesIO(block))

    return add


def small_files(count: int) -> Callable[[tarfile.TarFile], None]:
    def add(archive: tarfile.TarFile) -> None:
        rng = random.Random(7)
        per_dir = 200
        for d in range(count // per_dir):
            info = tarfile.TarInfo(f"small/d{d:03}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 1_700_000_000
            archive.addfile(info)
            for f in range(per_dir):
                data = rng.randbytes(64).hex().encode()
                info = tarfile.TarInfo(f"small/d{d:03}/f{f:04}")
                info.size = len(data)
                info.mtime = 1_700_000_000
                archive.addfile(info, io.BytesIO(data))

    return add


def upload(session: requests.Session, registry: RegistryServer, repo: str, digest: str, path: Path) -> None:
    start = session.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=60)
    start.raise_for_status()
    location = start.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    with path.open("rb") as body:
        done = session.put(
            f"{location}{'&' if '?' in location else '?'}digest={digest}",
            data=body,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
            timeout=600,
        )
    done.raise_for_status()


def build_and_push(
    registry: RegistryServer,
    repo: str,
    workdir: Path,
    layer_mib: int,
    small: int = 20_000,
    compression: str = "gzip",
) -> str:
    blobs = workdir / f"blobs-{layer_mib}-{compression}"
    blobs.mkdir(parents=True, exist_ok=True)
    layers = []
    for seed in range(4):
        # Half random, half zeros: gzip makes it about half the size, so double the raw size.
        layers.append(
            write_layer(blobs / f"big{seed}.tar.gz", big_files(2 * layer_mib * MIB, seed), compression)
        )
    layers.append(write_layer(blobs / "small.tar.gz", small_files(small), compression))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff, _ in layers]},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    (blobs / "config.json").write_bytes(config)
    with requests.Session() as session:
        session.trust_env = False
        names = [*(f"big{i}.tar.gz" for i in range(4)), "small.tar.gz"]
        for (digest, _, _), name in zip(layers, names, strict=True):
            upload(session, registry, repo, digest, blobs / name)
        upload(session, registry, repo, config_digest, blobs / "config.json")
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [
                    {
                        "mediaType": OCI_LAYER_ZSTD if compression == "zstd" else OCI_LAYER_GZIP,
                        "digest": d,
                        "size": s,
                    }
                    for d, _, s in layers
                ],
            }
        ).encode()
        response = session.put(
            f"{registry.url}/v2/{repo}/manifests/latest",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            timeout=60,
        )
        response.raise_for_status()
    shutil.rmtree(blobs)
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


# A small launcher forks the measured program, so its peak RSS is not inflated by this process's
# own memory (Linux keeps the pre-exec high-water mark in ru_maxrss).
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
cpu = usage.ru_utime + usage.ru_stime
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status), cpu)
"""


def run_child(argv: list[str], stdin: str | None = None) -> tuple[float, float, float]:
    """Run ``argv`` (``stdin`` fed to it); (seconds, own peak RSS in MiB, CPU seconds user+sys)."""
    result = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *argv],
        input=stdin or "",
        capture_output=True,
        text=True,
        check=False,
    )
    seconds, rss_kib, code, cpu = result.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}):\n{result.stderr[-2000:]}")
    return float(seconds), int(rss_kib) / 1024, float(cpu)


@contextlib.contextmanager
def scratch(workdir: Path, name: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ours(registry: RegistryServer, repo: str, digest: str, workdir: Path, fmt: str) -> Measure:
    request = json.dumps(
        {
            "source": {"repository": registry.repository(repo)},
            "version": {"tag": "latest", "digest": digest},
            "params": {"format": fmt},
        }
    )
    with scratch(workdir, "in") as dest:
        return run_child([*resource_command("in"), str(dest)], request)


def skopeo_pull(registry: RegistryServer, repo: str, digest: str, destination: str) -> Measure:
    """``skopeo copy`` of the image at ``digest`` to ``destination`` (``oci:…``, ``docker-archive:…``)."""
    ref = f"docker://{registry.repository(repo)}@{digest}"
    return run_child(
        ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", ref, destination]
    )


def skopeo_umoci(registry: RegistryServer, repo: str, digest: str, workdir: Path) -> Measure:
    with scratch(workdir, "skopeo") as tmp:
        t1, r1, c1 = skopeo_pull(registry, repo, digest, f"oci:{tmp}/layout:latest")
        t2, r2, c2 = run_child(["umoci", "raw", "unpack", "--image", f"{tmp}/layout:latest", f"{tmp}/rootfs"])
        return t1 + t2, max(r1, r2), c1 + c2


def skopeo_archive(registry: RegistryServer, repo: str, digest: str, workdir: Path) -> Measure:
    with scratch(workdir, "archive") as tmp:
        name = registry.repository(repo)
        return skopeo_pull(registry, repo, digest, f"docker-archive:{tmp}/image.tar:{name}:latest")


def skopeo_oci(registry: RegistryServer, repo: str, digest: str, workdir: Path) -> Measure:
    with scratch(workdir, "skopeo-oci") as tmp:
        return skopeo_pull(registry, repo, digest, f"oci:{tmp}/layout:latest")


Measure = tuple[float, float, float]


def summary(runs: list[Measure]) -> Measure:
    """Median wall time, largest peak RSS, median CPU time."""
    return (
        statistics.median(m[0] for m in runs),
        max(m[1] for m in runs),
        statistics.median(m[2] for m in runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layer-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=4, help="layer size factor for the RSS check (0: skip)")
    parser.add_argument("--small-files", type=int, default=20_000, help="files in the small-files layer")
    parser.add_argument("--zstd", action="store_true", help="also the zstd image against skopeo copy")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    write_bytecode()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-get-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"layer_mib": args.layer_mib, "runs": args.runs}
    # Filesystem storage: registry:2's in-memory driver copies the whole blob on every write.
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    with start_registry(workdir / "registry", RegistryOptions(storage_dir=storage)) as registry:
        print(f"registry {registry.url} ({registry.backend}); building the image...", flush=True)
        digest = build_and_push(registry, "bench/get", workdir, args.layer_mib, args.small_files)
        rootfs_ours: list[Measure] = []
        rootfs_theirs: list[Measure] = []
        oci_ours: list[Measure] = []
        oci_theirs: list[Measure] = []
        for run in range(args.runs):
            rootfs_ours.append(ours(registry, "bench/get", digest, workdir, "rootfs"))
            rootfs_theirs.append(skopeo_umoci(registry, "bench/get", digest, workdir))
            oci_ours.append(ours(registry, "bench/get", digest, workdir, "oci"))
            oci_theirs.append(skopeo_archive(registry, "bench/get", digest, workdir))
            print(
                f"run {run + 1}: rootfs {rootfs_ours[-1][0]:.2f}s vs skopeo+umoci {rootfs_theirs[-1][0]:.2f}s; "
                f"oci {oci_ours[-1][0]:.2f}s vs skopeo docker-archive {oci_theirs[-1][0]:.2f}s",
                flush=True,
            )
        rows = [
            ("rootfs: in", *summary(rootfs_ours)),
            ("rootfs: skopeo copy + umoci raw unpack", *summary(rootfs_theirs)),
            ("oci: in", *summary(oci_ours)),
            ("oci: skopeo copy docker-archive:", *summary(oci_theirs)),
        ]
        if args.scale:
            big = build_and_push(
                registry, "bench/get-big", workdir, args.layer_mib * args.scale, args.small_files
            )
            scaled = ours(registry, "bench/get-big", big, workdir, "rootfs")
            rows.append((f"rootfs: in, layers x{args.scale}", *scaled))
        if args.zstd:
            zstd = build_and_push(
                registry, "bench/get-zstd", workdir, args.layer_mib, args.small_files, "zstd"
            )
            zstd_ours: list[Measure] = []
            zstd_theirs: list[Measure] = []
            for _ in range(args.runs):
                zstd_ours.append(ours(registry, "bench/get-zstd", zstd, workdir, "rootfs"))
                zstd_theirs.append(skopeo_oci(registry, "bench/get-zstd", zstd, workdir))
            rows.append(("zstd rootfs: in", *summary(zstd_ours)))
            rows.append(("zstd: skopeo copy oci: (download only)", *summary(zstd_theirs)))
    print()
    print(f"{'case':45} {'median s':>9} {'peak RSS MiB':>13} {'CPU s':>8}")
    for name, seconds, rss, cpu in rows:
        print(f"{name:45} {seconds:9.2f} {rss:13.1f} {cpu:8.2f}")
    rootfs_ratio = rows[0][1] / rows[1][1]
    oci_ratio = rows[2][1] / rows[3][1]
    print(
        f"\nrootfs ratio in/(skopeo+umoci) = {rootfs_ratio:.2f} (target <= 0.6); CPU {rows[0][3] / rows[1][3]:.2f}"
    )
    print(f"oci ratio in/skopeo = {oci_ratio:.2f}; CPU {rows[2][3] / rows[3][3]:.2f}")
    results.update(
        {
            "rows": [
                {"case": n, "median_s": round(s, 3), "peak_rss_mib": round(r, 1), "cpu_s": round(c, 3)}
                for n, s, r, c in rows
            ],
            "rootfs_ratio": round(rootfs_ratio, 3),
            "oci_ratio": round(oci_ratio, 3),
        }
    )
    if args.zstd:
        results["zstd_ratio"] = round(rows[-2][1] / rows[-1][1], 3)
        print(f"zstd ratio in/skopeo copy (download only) = {results['zstd_ratio']:.2f}")
    print(json.dumps(results))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
