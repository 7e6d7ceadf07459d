"""``python -m bench`` (``make bench``): every benchmark, side by side, as one table and one JSON.

Runs each ``bench/bench_*.py`` as its own process (so one benchmark's memory and imports never
colour another's), echoing its output, with the full sizes by default (layers of about 64 MiB, a
20,000-file layer, 300 tags, a 1 GiB blob) or small ones with ``--quick`` (a smoke test: the
numbers mean nothing). Each script prints its results as a JSON line last; this entry point turns
them into rows: our median time, the reference tool's (skopeo, umoci, registry:2) on the same
loopback registry:2, their ratio, and peak RSS where the script measures it. The scripts alternate
their runs between us and the reference themselves.

    python -m bench [--quick] [--only check,cosign,get,unpack-limits,put,put-limits,check-floor,fake-registry] [--json FILE]

It owns no measurement of its own, and it never asserts a target: it reports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.installed import write_bytecode

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Row:
    bench: str
    case: str
    ours_s: float | None
    reference: str
    reference_s: float | None
    ours_rss_mib: float | None = None
    reference_rss_mib: float | None = None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours_s is None or not self.reference_s:
            return None
        return self.ours_s / self.reference_s


def check_rows(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "check",
            "tag mode, whole process",
            r["check_tag_s"],
            "skopeo inspect --raw",
            r["skopeo_inspect_s"],
            target="<= 3.5x",
        ),
        Row(
            "check",
            f"semver, {r['semver_tags']} tags, in process ({r['semver_requests']} requests)",
            r["semver_in_process_s"],
            "",
            None,
            target="< 0.2 s",
        ),
        Row("check", f"semver, {r['semver_tags']} tags, whole process", r["semver_process_s"], "", None),
        Row("check", "imports on the check path", r["import_total_ms"] / 1000, "", None),
    ]


def cosign_rows(r: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "cosign",
            f"semver check, {r['tags']} tags signed, public_keys, whole process",
            r["signed_process_s"],
            "the same check, unsigned, no cosign",
            r["unsigned_process_s"],
            target="<= 2x",
        ),
        Row(
            "cosign",
            f"semver check, {r['tags']} tags signed, public_keys, in process",
            r["signed_in_process_s"],
            "the same check, unsigned, no cosign",
            r["unsigned_in_process_s"],
        ),
    ]


def get_rows(r: dict[str, Any]) -> list[Row]:
    rows = {row["case"]: row for row in r["rows"]}

    def pair(case: str, ours: str, reference: str, label: str, target: str = "") -> Row:
        a, b = rows[ours], rows[reference]
        return Row(
            "get",
            case,
            a["median_s"],
            label,
            b["median_s"],
            a["peak_rss_mib"],
            b["peak_rss_mib"],
            target,
        )

    result = [
        pair(
            f"rootfs, 4x{r['layer_mib']} MiB gzip + small files",
            "rootfs: in",
            "rootfs: skopeo copy + umoci raw unpack",
            "skopeo copy + umoci raw unpack",
            "<= 0.6x, RSS < 100 MiB",
        ),
        pair("format: oci", "oci: in", "oci: skopeo copy docker-archive:", "skopeo copy docker-archive:"),
    ]
    for case, row in rows.items():
        if case.startswith("rootfs: in, layers x"):
            result.append(
                Row(
                    "get",
                    f"rootfs, layers {case.rsplit('x', 1)[1]}x larger",
                    row["median_s"],
                    "",
                    None,
                    row["peak_rss_mib"],
                    target="RSS does not grow",
                )
            )
    if "zstd rootfs: in" in rows:
        result.append(
            pair(
                "rootfs, zstd layers",
                "zstd rootfs: in",
                "zstd: skopeo copy oci: (download only)",
                "skopeo copy oci: (no unpack)",
            )
        )
    return result


def put_rows(r: dict[str, Any]) -> list[Row]:
    image = r["image"]
    return [
        Row(
            "put",
            f"OCI layout, {image['layers']}x{image['layer_mib']} MiB, fresh repository",
            r["out"]["median_seconds"],
            "skopeo copy oci: docker://",
            r["skopeo"]["median_seconds"],
            r["out"]["peak_rss_mib"],
            r["skopeo"]["peak_rss_mib"],
            "<= 0.8x, RSS < 100 MiB",
        )
    ]


def put_limits_rows(r: dict[str, Any]) -> list[Row]:
    image = r["image"]
    return [
        Row(
            "put-limits",
            f"docker save, {image['tar_mib']} MiB plain layers ({image['files']} files)",
            r["out"]["median_seconds"],
            "skopeo copy docker-archive: docker://",
            r["skopeo"]["median_seconds"],
            r["out"]["peak_rss_mib"],
            r["skopeo"]["peak_rss_mib"],
            "<= 0.4x",
        ),
        Row(
            "put-limits",
            "the same docker save again, same tag",
            r["out_again"]["median_seconds"],
            "skopeo copy docker-archive: docker://",
            r["skopeo"]["median_seconds"],
            r["out_again"]["peak_rss_mib"],
        ),
    ]


def check_floor_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    for key in ("few", "many"):
        case = r[key]
        what = f"semver, {case['tags']} tags ({case['semver']} semver)"
        reference = "curl --parallel-max 8, same requests"
        rows.append(
            Row(
                "check-floor",
                f"{what}, in process",
                case["ours_s"],
                reference,
                case["curl_s"],
                target="<= 1.2x",
            )
        )
        rows.append(
            Row("check-floor", f"{what}, whole process", case["ours_process_s"], reference, case["curl_s"])
        )
    return rows


def fake_registry_rows(r: dict[str, Any]) -> list[Row]:
    size = f"{r['size_mib']} MiB blob"
    rows = []
    for storage in ("memory", "directory"):
        for step in ("push", "pull"):
            rows.append(
                Row(
                    "fake registry",
                    f"{size} {step}, {storage} storage",
                    r[storage][f"{step}_s"],
                    "registry:2 (filesystem)",
                    r["registry2"][f"{step}_s"],
                    r[storage]["peak_rss_mib"],
                    target="RSS < 150 MiB",
                )
            )
    concurrent = r["concurrent"]
    rows.append(
        Row(
            "fake registry",
            f"{r['clients']} clients, {concurrent['uploads']} overlapping uploads + reads",
            concurrent["seconds"],
            "",
            None,
            concurrent["peak_rss_mib"],
        )
    )
    small = r["small_requests_per_s"]
    rows.append(
        Row(
            "fake registry",
            f"GET /v2/: {small['1']} req/s (1 client), {small['4']} req/s (4)",
            None,
            "",
            None,
        )
    )
    return rows


def unpack_limits_rows(r: dict[str, Any]) -> list[Row]:
    rows = {row["case"]: row for row in r["rows"]}

    def pair(case: str, ours: str, limit: str, target: str) -> Row:
        a, b = rows[ours], rows[limit]
        return Row(
            "unpack limits",
            case,
            a["median_s"],
            limit.split(": ", 1)[1],
            b["median_s"],
            a["peak_rss_mib"],
            b["peak_rss_mib"],
            target,
        )

    return [
        pair(
            f"rootfs, 1 gzip layer of {r['files']} small files",
            "small files: in",
            "small files: GNU tar -xzf (tmpfs)",
            "<= 1.0x",
        ),
        pair(
            f"rootfs, 4x{r['layer_mib']} MiB gzip + small files",
            "large layers: in",
            "large layers: fetch + isal gunzip",
            "<= 1.5x",
        ),
    ]


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    rows: Callable[[dict[str, Any]], list[Row]]


BENCHES = (
    Bench("check", "bench_check.py", (), ("--runs", "1", "--tags", "5"), check_rows),
    Bench("cosign", "bench_cosign.py", (), ("--runs", "1", "--tags", "5"), cosign_rows),
    Bench(
        "get",
        "bench_get.py",
        ("--zstd",),
        ("--layer-mib", "1", "--runs", "1", "--scale", "0", "--small-files", "200", "--zstd"),
        get_rows,
    ),
    Bench(
        "unpack-limits",
        "bench_unpack_limits.py",
        (),
        ("--runs", "1", "--files", "2000", "--layer-mib", "1", "--small-files", "200"),
        unpack_limits_rows,
    ),
    Bench("put", "bench_put.py", (), ("--runs", "1", "--layer-mib", "1"), put_rows),
    Bench(
        "put-limits",
        "bench_put_limits.py",
        (),
        ("--runs", "1", "--text-mib", "4", "--files", "200"),
        put_limits_rows,
    ),
    Bench(
        "check-floor",
        "bench_check_floor.py",
        (),
        ("--runs", "1", "--tags", "5", "--many", "30", "--many-semver", "3"),
        check_floor_rows,
    ),
    Bench(
        "fake-registry",
        "bench_fake_registry.py",
        (),
        ("--size-mib", "4", "--clients", "2", "--seconds", "0.1"),
        fake_registry_rows,
    ),
)


def run(bench: Bench, quick: bool) -> dict[str, Any]:
    """Run one script, echoing its output indented; its last JSON line."""
    argv = [sys.executable, str(HERE / bench.script), *(bench.quick if quick else bench.full)]
    print(f"== {bench.name}: {' '.join(argv[1:])}", flush=True)
    last: dict[str, Any] | None = None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=HERE.parent) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print("   ", line.rstrip(), flush=True)
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    last = json.loads(line)
    if process.returncode != 0:
        raise RuntimeError(f"{bench.script} exited {process.returncode}")
    if last is None:
        raise RuntimeError(f"{bench.script} printed no JSON result")
    return last


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    """A Markdown table, readable as plain text too."""
    header = [
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
    body = [
        [
            row.bench,
            row.case,
            _num(row.ours_s),
            row.reference,
            _num(row.reference_s),
            _num(row.ratio, 2) + ("x" if row.ratio is not None else ""),
            _num(row.ours_rss_mib, 1),
            _num(row.reference_rss_mib, 1),
            row.target,
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(cells) for cells in body)])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON result to this file")
    args = parser.parse_args()
    write_bytecode()
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = wanted - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    started = datetime.datetime.now(datetime.UTC)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    failed: list[str] = []
    for bench in BENCHES:
        if wanted and bench.name not in wanted:
            continue
        try:
            raw[bench.name] = run(bench, args.quick)
            rows.extend(bench.rows(raw[bench.name]))
        except (RuntimeError, KeyError, TypeError) as err:
            failed.append(f"{bench.name}: {err}")
            print(f"   {bench.name} failed: {err}", flush=True)

    load = os.getloadavg()
    print()
    print(
        f"{'quick (smoke test, sizes too small to mean anything)' if args.quick else 'full sizes'}; "
        f"{started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; load average at the end "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; Python {platform.python_version()} ({sys.executable})"
    )
    print(table(rows))
    document = {
        "date": started.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "cpus": os.cpu_count(),
        "python": [platform.python_version(), sys.executable],
        "load_average_end": [round(x, 2) for x in load],
        "rows": [
            {**asdict(row), "ratio": None if row.ratio is None else round(row.ratio, 3)} for row in rows
        ],
        "raw": raw,
        "failed": failed,
    }
    text = json.dumps(document, sort_keys=True)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    for failure in failed:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
