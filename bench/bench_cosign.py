"""Benchmark of ``check`` with cosign verification (not a test: it prints numbers).

Semver ``check`` over 300 tags (no cursor) against a loopback registry:2, twice: a repository whose
tags are unsigned, checked without ``cosign``, and one whose every tag is signed, checked with
``public_keys`` (each version then costs a look-up of its ``.sig`` tag, a payload download and an
ECDSA verification). Both as a whole process (the console script the image runs) and in process,
runs alternating, medians, and the ratio signed / unsigned (target: at most 2x).

Run: ``python bench/bench_cosign.py [--runs 9] [--tags 300]``. Needs the Debian ``docker-registry``
binary (as the integration tests do).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from bench.installed import resource_command, write_bytecode  # noqa: E402
from fake_registry import build_image  # noqa: E402
from integration.servers import start_registry  # noqa: E402
from registry_image_resource.commands import check  # noqa: E402
from registry_image_resource.commands.check.request import CheckRequest  # noqa: E402
from registry_image_resource.protocol.models import Source  # noqa: E402
from registry_image_resource.protocol.optional_models import Cosign  # noqa: E402
from registry_image_resource.registry.client import ConnectOptions, RegistryClient  # noqa: E402
from registry_image_resource.registry.reference import Repository  # noqa: E402
from registry_image_resource.trust.cosign.keys import PrivateKey  # noqa: E402
from registry_image_resource.trust.cosign.remote import push_signature  # noqa: E402


def seed(host: str, repo: str, tags: int, key: PrivateKey | None) -> None:
    """``tags`` version tags over distinct manifests (same blobs); each signed when ``key`` is given."""
    image = build_image([{"hello.txt": b"hello\n"}])
    with RegistryClient.connect(Repository(host, repo), ConnectOptions(), "push,pull") as client:
        for digest, data in image.blobs().items():
            client.upload_blob(digest, len(data), functools.partial(io.BytesIO, data))
        manifest = json.loads(image.manifest)

        def one(i: int) -> None:
            name = f"1.{i // 10}.{i % 10}"
            manifest_i = {**manifest, "annotations": {"bench.tag": name}}
            body = json.dumps(manifest_i, sort_keys=True).encode()
            digest = client.put_manifest(name, body, image.media_type)
            if key is not None:
                push_signature(client, key, digest)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(tags)))


def timed(command: list[str], stdin: bytes) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"check failed: {result.stderr.decode()[-500:]}")
    return elapsed, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tags", type=int, default=300)
    args = parser.parse_args()
    write_bytecode()
    os.environ.pop("TEST", None)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = PrivateKey.of(key)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-cosign-") as workdir,
        start_registry(Path(workdir)) as registry,
    ):
        host = registry.host
        seed(host, "bench/unsigned", args.tags, None)
        seed(host, "bench/signed", args.tags, signer)
        unsigned_repo, signed_repo = f"{host}/bench/unsigned", f"{host}/bench/signed"
        unsigned_source: dict[str, Any] = {"repository": unsigned_repo}
        signed_source: dict[str, Any] = {"repository": signed_repo, "cosign": {"public_keys": [public_pem]}}
        unsigned_stdin = json.dumps({"source": unsigned_source}).encode()
        signed_stdin = json.dumps({"source": signed_source}).encode()
        _, out = timed(resource_command("check"), signed_stdin)  # warm up, and the answer must be complete
        if len(json.loads(out)) != args.tags:
            raise SystemExit(f"signed check reported {len(json.loads(out))} versions, expected {args.tags}")
        timed(resource_command("check"), unsigned_stdin)
        process: dict[str, list[float]] = {"unsigned": [], "signed": []}
        for _ in range(args.runs):
            process["unsigned"].append(timed(resource_command("check"), unsigned_stdin)[0])
            process["signed"].append(timed(resource_command("check"), signed_stdin)[0])
        requests = {
            "unsigned": CheckRequest(source=Source(repository=unsigned_repo)),
            "signed": CheckRequest(
                source=Source(
                    repository=signed_source["repository"], cosign=Cosign(public_keys=(public_pem,))
                )
            ),
        }
        in_process: dict[str, list[float]] = {"unsigned": [], "signed": []}
        for run in range(args.runs + 1):
            for name, request in requests.items():
                start = time.perf_counter()
                versions = check.run(request)
                if run:
                    in_process[name].append(time.perf_counter() - start)
                assert len(versions) == args.tags
    results: dict[str, Any] = {"tags": args.tags, "runs": args.runs}
    for name in ("unsigned", "signed"):
        results[f"{name}_process_s"] = statistics.median(process[name])
        results[f"{name}_in_process_s"] = statistics.median(in_process[name])
    results["process_ratio"] = results["signed_process_s"] / results["unsigned_process_s"]
    results["in_process_ratio"] = results["signed_in_process_s"] / results["unsigned_in_process_s"]
    print(f"semver check, {args.tags} tags, whole process (median of {args.runs}):")
    print(f"  unsigned, no cosign:        {results['unsigned_process_s'] * 1000:7.1f} ms")
    print(f"  signed, with public_keys:   {results['signed_process_s'] * 1000:7.1f} ms")
    print(f"  ratio:                      {results['process_ratio']:7.2f}x  (target <= 2x)")
    print("in process:")
    print(f"  unsigned, no cosign:        {results['unsigned_in_process_s'] * 1000:7.1f} ms")
    print(f"  signed, with public_keys:   {results['signed_in_process_s'] * 1000:7.1f} ms")
    print(f"  ratio:                      {results['in_process_ratio']:7.2f}x")
    print(f"load average at the end:      {os.getloadavg()[0]:7.2f} (on {os.cpu_count()} CPUs)")
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
