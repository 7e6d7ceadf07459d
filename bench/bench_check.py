"""Benchmark of ``check`` (not a test: it prints numbers).

1. ``check`` in tag mode as a whole process (the ``registry-image-resource check`` console script,
   as the image's ``/opt/resource/check`` runs it) against
   ``skopeo inspect --raw`` on the same loopback registry:2, runs alternating, medians and the
   ratio (target: at most 3.5x skopeo, issue 14).
2. Semver ``check`` over 300 tags with no cursor: in-process time (target: under 0.2 s on
   loopback) with the number of HTTP requests; the same with one lookup at a time (what a
   sequential client takes on this machine); the registry's own CPU time per check (a floor no
   client can go under: the registry answers each HEAD with a few ms of CPU); the whole process.
3. The import time of the ``check`` path (``python -X importtime``), the heaviest modules, and a
   guard that boto3, cryptography, zstandard and isal are not on it.

Run: ``python bench/bench_check.py [--runs 15] [--tags 300]``. Needs the Debian ``docker-registry``
and ``skopeo`` binaries (as the integration tests do).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import os
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
from fake_registry import build_image  # noqa: E402
from integration.servers import start_registry  # noqa: E402
from registry_image_resource.commands import check  # noqa: E402
from registry_image_resource.commands.check.request import CheckRequest  # noqa: E402
from registry_image_resource.protocol.models import Source, Version  # noqa: E402
from registry_image_resource.registry.client import ConnectOptions, RegistryClient  # noqa: E402
from registry_image_resource.registry.reference import Repository  # noqa: E402

HEAVY = ("boto3", "botocore", "cryptography", "zstandard", "isal", "semver", "re2")


def seed(host: str, tags: int) -> None:
    """``bench/tag``:latest, and ``bench/semver`` with ``tags`` version tags over distinct manifests."""
    image = build_image([{"hello.txt": b"hello\n"}])
    for repo, names in (
        ("bench/tag", ["latest"]),
        ("bench/semver", [f"1.{i // 10}.{i % 10}" for i in range(tags)]),
    ):
        with RegistryClient.connect(Repository(host, repo), ConnectOptions(), "push,pull") as client:
            for digest, data in image.blobs().items():
                client.upload_blob(digest, len(data), functools.partial(io.BytesIO, data))
            manifest = json.loads(image.manifest)
            for name in names:
                # A distinct manifest per tag (same blobs), so every tag is its own version.
                manifest["annotations"] = {"bench.tag": name}
                body = json.dumps(manifest, sort_keys=True).encode()
                client.put_manifest(name, body, image.media_type)


def timed(command: list[str], stdin: bytes | None = None, cpu: list[float] | None = None) -> float:
    """Wall seconds of one run; its CPU seconds (user + system) are appended to ``cpu``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]} failed: {result.stderr.decode()[-500:]}")
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed


def request_json(host: str, repo: str, **fields: object) -> bytes:
    return json.dumps({"source": {"repository": f"{host}/{repo}", **fields}}).encode()


def bench_tag_mode(host: str, runs: int) -> dict[str, float]:
    ours: list[float] = []
    theirs: list[float] = []
    floor: list[float] = []
    bare = [sys.executable, "-c", "import ssl"]
    ours_cpu: list[float] = []
    theirs_cpu: list[float] = []
    payload = request_json(host, "bench/tag", tag="latest")
    skopeo = ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/bench/tag:latest"]
    timed(resource_command("check"), payload)  # warm the page cache and .pyc files
    timed(skopeo)
    for _ in range(runs):
        ours.append(timed(resource_command("check"), payload, ours_cpu))
        theirs.append(timed(skopeo, None, theirs_cpu))
        floor.append(timed(bare))
    result = {
        "check_tag_s": statistics.median(ours),
        "skopeo_inspect_s": statistics.median(theirs),
        "check_tag_cpu_s": statistics.median(ours_cpu),
        "skopeo_inspect_cpu_s": statistics.median(theirs_cpu),
        "python_ssl_s": statistics.median(floor),
    }
    result["ratio"] = result["check_tag_s"] / result["skopeo_inspect_s"]
    return result


class _CountHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def registry_cpu_seconds(workdir: Path) -> float | None:
    """CPU seconds used so far by the local registry process serving from ``workdir`` (None when
    the registry runs in a container)."""
    marker = str(workdir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"serve" not in argv or not any(marker in part for part in argv):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def _semver_runs(request: CheckRequest, runs: int, limit: int) -> tuple[list[float], list[Version]]:
    check.LOOKUP_CONCURRENCY = limit
    times = []
    versions: list[Version] = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        versions = check.run(request)
        times.append(time.perf_counter() - start)
    return times[1:], versions


def bench_semver(host: str, runs: int, tags: int, workdir: Path) -> dict[str, float]:
    logger = logging.getLogger("registry_image_resource")
    handler = _CountHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    request = CheckRequest(source=Source(repository=f"{host}/bench/semver"))
    default = check.LOOKUP_CONCURRENCY
    cpu_before = registry_cpu_seconds(workdir)
    times, versions = _semver_runs(request, runs, default)
    cpu_after = registry_cpu_seconds(workdir)
    sequential, _ = _semver_runs(request, max(3, runs // 3), 1)
    check.LOOKUP_CONCURRENCY = default
    logger.removeHandler(handler)
    sent = [m for m in handler.messages if m.startswith("check of ")][-1]
    requests = int(sent.split(" sent ")[1].split()[0])
    payload = request_json(host, "bench/semver")
    process = statistics.median(timed(resource_command("check"), payload) for _ in range(max(3, runs // 3)))
    result = {
        "semver_tags": tags,
        "semver_versions": len(versions),
        "semver_in_process_s": statistics.median(times),
        "semver_sequential_s": statistics.median(sequential),
        "semver_requests": requests,
        "semver_process_s": process,
    }
    if cpu_before is not None and cpu_after is not None:
        # runs + 1 checks ran between the two readings (the first one warms up)
        result["semver_registry_cpu_s"] = (cpu_after - cpu_before) / (runs + 1)
    return result


def bench_imports(host: str) -> dict[str, object]:
    payload = request_json(host, "bench/tag", tag="latest")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *resource_command("check")[1:]],
        input=payload,
        capture_output=True,
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in result.stderr.decode().splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append((int(parts[1]), parts[2].rstrip()))
    # importtime indents nested imports; top-level ones have a single leading space.
    top_level = [(us, name.strip()) for us, name in rows if not name[1:].startswith(" ")]
    heavy = sorted({name.strip().split(".")[0] for _, name in rows} & set(HEAVY))
    return {
        "import_total_ms": sum(us for us, _ in top_level) / 1000,
        "import_top": [f"{name} {us / 1000:.1f}ms" for us, name in sorted(top_level, reverse=True)[:6]],
        "heavy_modules_on_check_path": heavy,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tags", type=int, default=300)
    args = parser.parse_args()
    write_bytecode()
    os.environ.pop("TEST", None)
    import compileall

    import registry_image_resource

    compileall.compile_dir(str(Path(registry_image_resource.__file__).parent), quiet=1)
    with (
        tempfile.TemporaryDirectory(prefix="bench-check-") as workdir,
        start_registry(Path(workdir)) as registry,
    ):
        seed(registry.host, args.tags)
        results: dict[str, Any] = {}
        results.update(bench_tag_mode(registry.host, args.runs))
        results.update(bench_semver(registry.host, args.runs, args.tags, Path(workdir)))
        results.update(bench_imports(registry.host))
    print(f"check (tag) whole process:   {results['check_tag_s'] * 1000:7.1f} ms (median of {args.runs})")
    print(f"skopeo inspect --raw:        {results['skopeo_inspect_s'] * 1000:7.1f} ms")
    print(f"ratio:                       {results['ratio']:7.2f}x  (target <= 3.5x, issue 14)")
    print(
        f"CPU (user+sys) per run:      {results['check_tag_cpu_s'] * 1000:7.1f} ms vs skopeo "
        f"{results['skopeo_inspect_cpu_s'] * 1000:.1f} ms"
    )
    print(
        f"python -c 'import ssl':      {results['python_ssl_s'] * 1000:7.1f} ms "
        f"(the floor for any Python check; check = {results['check_tag_s'] / results['python_ssl_s']:.2f}x it)"
    )
    print(f"load average at the end:     {os.getloadavg()[0]:7.2f} (on {os.cpu_count()} CPUs)")
    print(
        f"semver check, {args.tags} tags, no cursor: {results['semver_in_process_s'] * 1000:7.1f} ms in process "
        f"(target < 200 ms), {results['semver_requests']} requests, {results['semver_versions']} versions"
    )
    print(
        f"semver, one lookup at a time: {results['semver_sequential_s'] * 1000:7.1f} ms in process "
        f"(ours is {results['semver_sequential_s'] / results['semver_in_process_s']:.2f}x faster)"
    )
    if "semver_registry_cpu_s" in results:
        print(
            f"registry CPU per semver check: {results['semver_registry_cpu_s'] * 1000:6.1f} ms "
            f"(on {os.cpu_count()} CPUs: a floor of {results['semver_registry_cpu_s'] * 1000 / (os.cpu_count() or 1):.0f} ms "
            "for any client)"
        )
    print(f"semver check whole process:  {results['semver_process_s'] * 1000:7.1f} ms")
    top = ", ".join(str(item) for item in results["import_top"])
    print(f"imports on the check path:   {results['import_total_ms']:7.1f} ms; top: {top}")
    print(f"heavy modules imported:      {results['heavy_modules_on_check_path'] or 'none'}")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
