"""Benchmark of the fake registry as a separate process (not a test: it prints numbers).

1. Push then pull a 1 GiB blob (PATCH streamed with chunked transfer encoding, final PUT with the
   digest, then a streamed GET verified against the digest), for memory and directory storage,
   reporting throughput and the server process's peak RSS (VmHWM; target < 150 MiB).
2. 50 concurrent clients each pushing 8 blobs drawn from a pool of 16 (so uploads of the same
   blob overlap), then reading every blob back and checking its digest.
3. Small requests: ``GET /v2/`` over keep-alive connections from 1 and 4 threads for 2 seconds.

Run: ``python bench/bench_fake_registry.py [--size-mib 1024]``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
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
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="bench-fake-registry-") as tmp:
        for label, extra in (("memory", []), ("directory", ["--storage", tmp])):
            proc, url = start_server(*extra)
            try:
                push, pull = big_blob(url, size)
                print(
                    f"{label:9} storage: {args.size_mib} MiB blob push {push:.1f}s ({args.size_mib / push:.0f} MiB/s), "
                    f"pull {pull:.1f}s ({args.size_mib / pull:.0f} MiB/s), "
                    f"server peak RSS {peak_rss_mib(proc.pid):.0f} MiB (target < 150)"
                )
            finally:
                proc.terminate()
                proc.wait(10)
        proc, url = start_server()
        try:
            elapsed, uploads = concurrent_clients(url)
            print(
                f"50 concurrent clients: {uploads} overlapping uploads and read-backs, all intact, in {elapsed:.1f}s; "
                f"server peak RSS {peak_rss_mib(proc.pid):.0f} MiB"
            )
            print(
                f"small requests (GET /v2/, 1 keep-alive client): {small_requests(url, threads=1):.0f} req/s"
            )
            print(f"small requests (GET /v2/, 4 keep-alive clients): {small_requests(url):.0f} req/s")
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
