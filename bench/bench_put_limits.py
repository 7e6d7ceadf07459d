"""Benchmark (not a test): ``out`` of a ``docker save`` tarball with uncompressed layers.

The tarball holds one image: ``--text-layers`` layers of plain text (``--text-mib`` MiB in all,
words drawn from a fixed vocabulary, so it compresses about 3-4x as source code does) and one
layer of ``--files`` small files, all uncompressed as ``docker save`` writes them. Both tools
gzip every layer on the way: ``out`` against ``skopeo copy docker-archive:FILE docker://...``
(issue 17's goal: at most 0.4x skopeo). Each run pushes to a fresh repository of a fresh
loopback registry:2 (filesystem storage), alternating the tools; medians of wall time, CPU time
and peak RSS. A last ``out`` run pushes the same tarball again to the repository it just filled
(what a re-run of a pipeline does): the time of a push that finds its blobs in place.

    python bench/bench_put_limits.py [--runs 5] [--text-mib 160] [--files 20000] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import resource_command, write_bytecode  # noqa: E402
from integration.servers import RegistryOptions, find_tool, start_registry  # noqa: E402

MIB = 1 << 20
_WORDS = [
    "def", "return", "self", "import", "class", "from", "if", "else", "for", "in", "while", "with",
    "value", "result", "config", "layer", "digest", "registry", "manifest", "upload", "None", "True",
    "print", "items", "index", "offset", "size", "buffer", "chunk", "stream", "error", "raise",
]  # fmt: skip


def _text(rng: random.Random, size: int) -> bytes:
    """``size`` bytes of source-like text: indented lines of words and numbers."""
    out = io.BytesIO()
    while out.tell() < size:
        words = rng.choices(_WORDS, k=4096)
        numbers = [str(rng.randrange(100000)) for _ in range(512)]
        lines = []
        for i in range(0, 4096, 8):
            lines.append("    " * rng.randrange(4) + " ".join(words[i : i + 8]) + " " + numbers[i // 8])
        out.write(("\n".join(lines) + "\n").encode())
    return out.getvalue()[:size]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_layer(path: Path, files: list[tuple[str, bytes]]) -> str:
    """A plain layer tar at ``path``; its sha256 (the diff_id)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            _add(tar, name, data)
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(MIB):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def write_docker_save(target: Path, text_layers: int, text_mib: int, files: int) -> None:
    """A ``docker save`` tarball at ``target`` with uncompressed layers."""
    rng = random.Random(17)
    parts = target.parent / "parts"
    parts.mkdir()
    layers: list[tuple[str, Path, str]] = []
    per_layer = text_mib * MIB // max(1, text_layers)
    for n in range(text_layers):
        chunks = [(f"src/text-{n}-{i}.txt", _text(rng, 4 * MIB)) for i in range(per_layer // (4 * MIB))]
        rest = per_layer - 4 * MIB * len(chunks)
        if rest:
            chunks.append((f"src/text-{n}-last.txt", _text(rng, rest)))
        path = parts / f"text{n}.tar"
        layers.append((f"text{n}/layer.tar", path, write_layer(path, chunks)))
    if files:
        small = [(f"files/d{i % 200}/f{i}.txt", _text(rng, 64 + rng.randrange(137))) for i in range(files)]
        path = parts / "files.tar"
        layers.append(("files/layer.tar", path, write_layer(path, small)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id for _, _, diff_id in layers]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": ["bench:latest"], "Layers": [n for n, _, _ in layers]}]
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, config_name, config)
        for name, path, _ in layers:
            tar.add(path, name)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    shutil.rmtree(parts)


def timed(argv: list[str], stdin: str | None, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one process; fails loudly on a non-zero exit."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=output, stderr=output, env=env)
        assert process.stdin is not None
        process.stdin.write((stdin or "").encode())
        process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            output.seek(0)
            raise SystemExit(f"{argv[0]} failed:\n{output.read().decode(errors='replace')[-3000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def registry_cpu_seconds(workdir: Path) -> float:
    """CPU seconds used so far by the local registry process serving from ``workdir`` (0 in Docker)."""
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
    return 0.0


def _summary(runs: list[tuple[float, float, float]]) -> dict[str, Any]:
    return {
        "median_seconds": round(statistics.median(t for t, _, _ in runs), 3),
        "median_cpu_seconds": round(statistics.median(c for _, c, _ in runs), 3),
        "peak_rss_mib": round(max(r for _, _, r in runs), 1),
        "runs": [round(t, 3) for t, _, _ in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--text-layers", type=int, default=4)
    parser.add_argument("--text-mib", type=int, default=160)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument("--write", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    write_bytecode()
    if args.write is not None:
        write_docker_save(args.write, args.text_layers, args.text_mib, args.files)
        return 0

    skopeo = find_tool("skopeo")
    env = {**os.environ, "TEST": "true"}
    results: dict[str, list[tuple[float, float, float]]] = {"out": [], "skopeo": [], "out_again": []}
    registry_cpu: dict[str, list[float]] = {"out": [], "skopeo": []}
    with tempfile.TemporaryDirectory(prefix="bench-put-limits-") as tmp:
        workdir = Path(tmp)
        (workdir / "src").mkdir()
        archive = workdir / "src" / "image.tar"
        # In a child: a child's peak RSS counts the pages of the parent it was forked from.
        subprocess.run(
            [sys.executable, __file__, "--write", str(archive), "--text-layers", str(args.text_layers),
             "--text-mib", str(args.text_mib), "--files", str(args.files)],
            check=True,
        )  # fmt: skip
        size_mib = archive.stat().st_size / MIB
        for run in range(args.runs):
            registry_dir = workdir / f"registry-{run}"
            with start_registry(
                registry_dir, RegistryOptions(storage_dir=registry_dir / "storage")
            ) as server:
                order = ["out", "skopeo"] if run % 2 == 0 else ["skopeo", "out"]
                for tool in order:
                    repo = server.repository(f"bench/{tool}-{run}")
                    before = registry_cpu_seconds(registry_dir)
                    if tool == "out":
                        request = json.dumps(
                            {
                                "source": {"repository": repo, "tag": "latest"},
                                "params": {"image": "image.tar"},
                            }
                        )
                        argv = [*resource_command("out"), str(workdir / "src")]
                        results["out"].append(timed(argv, request, env))
                        registry_cpu["out"].append(registry_cpu_seconds(registry_dir) - before)
                        if run == args.runs - 1:
                            results["out_again"].append(timed(argv, request, env))
                    else:
                        argv = [skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                                f"docker-archive:{archive}", f"docker://{repo}:latest"]  # fmt: skip
                        results["skopeo"].append(timed(argv, None, env))
                        registry_cpu["skopeo"].append(registry_cpu_seconds(registry_dir) - before)
            shutil.rmtree(registry_dir, ignore_errors=True)

    summary: dict[str, Any] = {tool: _summary(runs) for tool, runs in results.items() if runs}
    for tool, seconds in registry_cpu.items():
        summary[tool]["registry_cpu_seconds"] = round(statistics.median(seconds), 3)
    summary["ratio_out_to_skopeo"] = round(
        summary["out"]["median_seconds"] / summary["skopeo"]["median_seconds"], 3
    )
    summary["image"] = {
        "text_layers": args.text_layers,
        "text_mib": args.text_mib,
        "files": args.files,
        "tar_mib": round(size_mib, 1),
    }
    if not args.json:
        print(
            f"out of a docker save tarball ({size_mib:.0f} MiB, uncompressed layers), {args.runs} runs each"
        )
        print(f"{'tool':<10} {'median s':>9} {'CPU s':>7} {'peak RSS MiB':>13}  runs")
        for tool in ("out", "skopeo", "out_again"):
            row = summary[tool]
            print(
                f"{tool:<10} {row['median_seconds']:>9.3f} {row['median_cpu_seconds']:>7.3f} "
                f"{row['peak_rss_mib']:>13.1f}  {row['runs']}"
            )
        print(f"ratio out/skopeo: {summary['ratio_out_to_skopeo']} (target <= 0.4)")
        for tool in ("out", "skopeo"):
            row = summary[tool]
            floor = (row["median_cpu_seconds"] + row["registry_cpu_seconds"]) / (os.cpu_count() or 1)
            print(
                f"{tool}: registry CPU {row['registry_cpu_seconds']:.3f} s; (client + registry CPU) / "
                f"{os.cpu_count()} CPUs = {floor:.3f} s, a floor for its wall time"
            )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
