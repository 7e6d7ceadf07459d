"""Benchmark (not a test): semver ``check`` against the registry's floor, measured by curl.

Two repositories on one loopback registry:2: ``bench/few`` with ``--tags`` semver tags (300), and
``bench/many`` with ``--many`` tags (10,000) of which ``--many-semver`` (200) are versions, the
rest build names. For each, a semver ``check`` with no cursor, in process (ping, tag listing with
``n=1000`` pages, a HEAD per version tag) and as a whole process, alternating with the floor: the same requests sent by
one ``curl --parallel --parallel-max 8`` process (``GET /v2/``, every listing page, every HEAD with
the same ``Accept``). curl knows the page URLs up front (the bench computes them), so its pages
need not wait for each other: a stricter floor than any client that follows ``Link`` can reach.
Medians and the ratio (issue 17's goal: at most 1.2x).

    python bench/bench_check_floor.py [--runs 9] [--tags 300] [--many 10000] [--many-semver 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import io
import json
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
from integration.servers import find_tool, start_registry  # noqa: E402
from registry_image_resource.commands import check  # noqa: E402
from registry_image_resource.commands.check.request import CheckRequest  # noqa: E402
from registry_image_resource.protocol.models import Source  # noqa: E402
from registry_image_resource.registry.client import ConnectOptions, RegistryClient  # noqa: E402
from registry_image_resource.registry.mediatypes import ACCEPT  # noqa: E402
from registry_image_resource.registry.reference import Repository  # noqa: E402

PAGE = 1000


def seed(host: str, repo: str, names: list[str]) -> None:
    """A distinct manifest per tag (same blobs), pushed 8 at a time."""
    image = build_image([{"hello.txt": b"hello\n"}])
    with RegistryClient.connect(Repository(host, repo), ConnectOptions(), "push,pull") as client:
        for digest, data in image.blobs().items():
            client.upload_blob(digest, len(data), functools.partial(io.BytesIO, data))
        manifest = json.loads(image.manifest)

        def put(name: str) -> None:
            body = json.dumps({**manifest, "annotations": {"bench.tag": name}}, sort_keys=True).encode()
            client.put_manifest(name, body, image.media_type)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(put, names))


def tag_names(count: int, semver: int) -> list[str]:
    """``semver`` version tags and ``count - semver`` build tags."""
    versions = [f"1.{i // 10}.{i % 10}" for i in range(semver)]
    return versions + [f"build-{i:06d}" for i in range(count - semver)]


def curl_config(host: str, repo: str, names: list[str], semver: list[str]) -> str:
    """One curl config: the ping, every page URL (``last`` from the sorted tags), every HEAD."""
    base = f"http://{host}/v2/{repo}"
    ordered = sorted(names)
    pages = [f"{base}/tags/list?n={PAGE}"]
    pages += [f"{base}/tags/list?n={PAGE}&last={ordered[i - 1]}" for i in range(PAGE, len(ordered), PAGE)]
    blocks = [f'url = "http://{host}/v2/"\noutput = "/dev/null"']
    blocks += [f'url = "{url}"\noutput = "/dev/null"' for url in pages]
    blocks += [
        f'url = "{base}/manifests/{tag}"\nhead\nheader = "Accept: {ACCEPT}"\noutput = "/dev/null"'
        for tag in semver
    ]
    return "\nnext\n".join(blocks) + "\n"


def run_curl(curl: str, config: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            curl,
            "--silent",
            "--fail",
            "--parallel",
            "--parallel-immediate",
            "--parallel-max",
            "8",
            "--config",
            str(config),
        ],
        check=True,
    )
    return time.perf_counter() - start


def run_check(host: str, repo: str) -> tuple[float, int]:
    start = time.perf_counter()
    versions = check.run(CheckRequest(source=Source(repository=f"{host}/{repo}")))
    return time.perf_counter() - start, len(versions)


def run_check_process(host: str, repo: str) -> float:
    """The whole ``check`` process, as ``/opt/resource/check`` runs it (interpreter start included)."""
    payload = json.dumps({"source": {"repository": f"{host}/{repo}"}}).encode()
    start = time.perf_counter()
    subprocess.run(resource_command("check"), input=payload, capture_output=True, check=True)
    return time.perf_counter() - start


def measure(
    host: str, repo: str, names: list[str], semver: list[str], runs: int, workdir: Path
) -> dict[str, Any]:
    curl = find_tool("curl")
    config = workdir / f"{repo.replace('/', '-')}.curl"
    config.write_text(curl_config(host, repo, names, semver))
    run_check(host, repo)  # warm up both
    run_curl(curl, config)
    ours: list[float] = []
    floor: list[float] = []
    process: list[float] = []
    versions = 0
    for run in range(runs):
        for who in ("ours", "curl", "process") if run % 2 == 0 else ("process", "curl", "ours"):
            if who == "ours":
                elapsed, versions = run_check(host, repo)
                ours.append(elapsed)
            elif who == "process":
                process.append(run_check_process(host, repo))
            else:
                floor.append(run_curl(curl, config))
    if versions != len(semver):
        raise SystemExit(f"check of {repo} found {versions} versions, not {len(semver)}")
    result: dict[str, Any] = {
        "tags": len(names),
        "semver": len(semver),
        "ours_s": round(statistics.median(ours), 4),
        "curl_s": round(statistics.median(floor), 4),
        "ours_process_s": round(statistics.median(process), 4),
        "ours_runs": [round(x, 4) for x in ours],
        "curl_runs": [round(x, 4) for x in floor],
    }
    result["ratio"] = round(result["ours_s"] / result["curl_s"], 3)
    result["process_ratio"] = round(result["ours_process_s"] / result["curl_s"], 3)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--many", type=int, default=10000)
    parser.add_argument("--many-semver", type=int, default=200)
    args = parser.parse_args()
    write_bytecode()
    os.environ.pop("TEST", None)
    with (
        tempfile.TemporaryDirectory(prefix="bench-check-floor-") as tmp,
        start_registry(Path(tmp)) as registry,
    ):
        few = tag_names(args.tags, args.tags)
        many = tag_names(args.many, args.many_semver)
        seed(registry.host, "bench/few", few)
        seed(registry.host, "bench/many", many)
        results: dict[str, Any] = {
            "few": measure(registry.host, "bench/few", few, few, args.runs, Path(tmp)),
            "many": measure(
                registry.host, "bench/many", many, many[: args.many_semver], args.runs, Path(tmp)
            ),
            "lookup_concurrency": check.LOOKUP_CONCURRENCY,
        }
    for key in ("few", "many"):
        row = results[key]
        print(
            f"semver check, {row['tags']} tags ({row['semver']} semver): ours {row['ours_s'] * 1000:.1f} ms, "
            f"curl floor {row['curl_s'] * 1000:.1f} ms, ratio {row['ratio']:.2f}x (target <= 1.2x); "
            f"whole process {row['ours_process_s'] * 1000:.1f} ms, {row['process_ratio']:.2f}x"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
