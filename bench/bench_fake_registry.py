"""Benchmark of the fake registry as a separate process (not a test: it prints numbers).

1. Push then pull a 1 GiB blob (PATCH streamed with chunked transfer encoding, final PUT with the
   digest, then a streamed GET verified against the digest), for memory and directory storage,
   reporting throughput and the server process's peak RSS (VmHWM; target < 150 MiB); the same
   client against a loopback registry:2 (filesystem storage) for comparison.
2. 50 concurrent clients each pushing 8 blobs drawn from a pool of 16 (so uploads of the same
   blob overlap), then reading every blob back and checking its digest.
3. Small requests: ``GET /v2/`` over keep-alive connections from 1 and 4 threads for 2 seconds.

Run: ``python bench/bench_fake_registry.py [--size-mib 1024] [--clients 50] [--seconds 2]``.
Prints one line per measurement, then all of them as a JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.servers import RegistryOptions, start_registry  # noqa: E402

CHUNK = 1 << 20


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_registry", "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    return proc, line.removeprefix("listening on ")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream(size: int, seed: int = 1) -> tuple[object, hashlib._Hash]:
    block = random.Random(seed).randbytes(CHUNK)
    digest = hashlib.sha256()

    def chunks():
        sent = 0
        while sent < size:
            piece = block[: min(CHUNK, size - sent)]
            digest.update(piece)
            sent += len(piece)
            yield piece

    return chunks(), digest


def big_blob(url: str, size: int) -> tuple[float, float]:
    s = requests.Session()
    location = s.post(f"{url}/v2/bench/big/blobs/uploads/").headers["Location"]
    body, digest = stream(size)
    t0 = time.perf_counter()
    r = s.patch(location, data=body)
    r.raise_for_status()
    d = "sha256:" + digest.hexdigest()
    s.put(r.headers["Location"], params={"digest": d}).raise_for_status()
    push = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = hashlib.sha256()
    with s.get(f"{url}/v2/bench/big/blobs/{d}", stream=True) as r:
        r.raise_for_status()
        for chunk in r.iter_content(CHUNK):
            got.update(chunk)
    pull = time.perf_counter() - t0
    assert "sha256:" + got.hexdigest() == d, "pulled blob differs"
    return push, pull


def concurrent_clients(url: str, clients: int = 50, per_client: int = 8, pool: int = 16) -> tuple[float, int]:
    blobs = [random.Random(i).randbytes(random.Random(i).randint(256 << 10, 2 << 20)) for i in range(pool)]
    digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
    failures: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        s = requests.Session()
        rng = random.Random(1000 + n)
        mine = rng.sample(range(pool), per_client)
        repo = f"bench/c{n % 5}"  # 10 clients per repository: overlapping uploads
        for i in mine:
            location = s.post(f"{url}/v2/{repo}/blobs/uploads/").headers["Location"]
            half = len(blobs[i]) // 2
            r = s.patch(location, data=blobs[i][:half])
            r = s.patch(r.headers["Location"], data=iter([blobs[i][half:]]))
            r = s.put(r.headers["Location"], params={"digest": digests[i]})
            if r.status_code != 201:
                with lock:
                    failures.append(f"client {n} blob {i}: {r.status_code}")
        for i in mine:
            data = s.get(f"{url}/v2/{repo}/blobs/{digests[i]}").content
            if data != blobs[i]:
                with lock:
                    failures.append(f"client {n} blob {i}: read back differs")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as executor:
        list(executor.map(client, range(clients)))
    elapsed = time.perf_counter() - t0
    assert not failures, failures[:5]
    return elapsed, clients * per_client


def small_requests(url: str, seconds: float = 2.0, threads: int = 4) -> float:
    """GET /v2/ over keep-alive connections with http.client (requests itself costs more CPU)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def run(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port))
        while time.perf_counter() < deadline:
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            counts[n] += 1
        conn.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each small-request run")
    args = parser.parse_args()
    size = args.size_mib << 20
    results: dict[str, object] = {"size_mib": args.size_mib, "clients": args.clients}
    with tempfile.TemporaryDirectory(prefix="bench-fake-registry-") as tmp:
        for label, extra in (("memory", []), ("directory", ["--storage", tmp])):
            proc, url = start_server(*extra)
            try:
                push, pull = big_blob(url, size)
                results[label] = {
                    "push_s": round(push, 3),
                    "pull_s": round(pull, 3),
                    "peak_rss_mib": round(peak_rss_mib(proc.pid), 1),
                }
                print(
                    f"{label:9} storage: {args.size_mib} MiB blob push {push:.1f}s ({args.size_mib / push:.0f} MiB/s), "
                    f"pull {pull:.1f}s ({args.size_mib / pull:.0f} MiB/s), "
                    f"server peak RSS {peak_rss_mib(proc.pid):.0f} MiB (target < 150)"
                )
            finally:
                proc.terminate()
                proc.wait(10)
        # registry:2 (filesystem storage: its in-memory driver copies the whole blob on each write)
        storage = Path(tmp) / "registry2"
        with start_registry(storage, RegistryOptions(storage_dir=storage / "storage")) as registry:
            push, pull = big_blob(registry.url, size)
            results["registry2"] = {"push_s": round(push, 3), "pull_s": round(pull, 3)}
            print(
                f"registry:2 ({registry.backend}, filesystem): {args.size_mib} MiB blob push {push:.1f}s "
                f"({args.size_mib / push:.0f} MiB/s), pull {pull:.1f}s ({args.size_mib / pull:.0f} MiB/s)"
            )
        proc, url = start_server()
        try:
            elapsed, uploads = concurrent_clients(url, clients=args.clients)
            rss = peak_rss_mib(proc.pid)
            print(
                f"{args.clients} concurrent clients: {uploads} overlapping uploads and read-backs, all intact, "
                f"in {elapsed:.1f}s; server peak RSS {rss:.0f} MiB"
            )
            one = small_requests(url, seconds=args.seconds, threads=1)
            print(f"small requests (GET /v2/, 1 keep-alive client): {one:.0f} req/s")
            four = small_requests(url, seconds=args.seconds)
            print(f"small requests (GET /v2/, 4 keep-alive clients): {four:.0f} req/s")
            results["concurrent"] = {
                "seconds": round(elapsed, 3),
                "uploads": uploads,
                "peak_rss_mib": round(rss, 1),
            }
            results["small_requests_per_s"] = {"1": round(one), "4": round(four)}
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"({os.cpu_count()} CPUs)")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
