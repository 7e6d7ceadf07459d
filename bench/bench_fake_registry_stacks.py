"""Which HTTP server stack for the fake registry? The numbers behind the choice (not a test).

Each candidate serves the same three things a registry mostly does: a tiny JSON answer
(``GET /v2/``), a streamed upload hashed on the way into a file (``PATCH /upload``, chunked), and
a streamed download of a file (``GET /blob``). Candidates: the fake registry itself (standard
library ``ThreadingHTTPServer``, doing its full registry work: uploads, digests, storage), and
minimal apps on Werkzeug's threaded server, cheroot (WSGI) and uvicorn (ASGI). Each server runs in
its own process; the client measures requests/s over keep-alive connections and MiB/s for a
256 MiB upload and download, and reads the server's peak RSS.

Run: ``python bench/bench_fake_registry_stacks.py [--python PATH]``. Stacks whose package is not
importable by ``PATH`` (default: this interpreter) are reported as missing; to compare them all,
point ``--python`` at a virtualenv with ``cheroot uvicorn werkzeug`` and the fake registry
installed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

SIZE = 256 << 20
CHUNK = 1 << 20

COMMON = """
import hashlib, os, sys, tempfile
BLOB = sys.argv[1]
DIR = tempfile.mkdtemp()
def store(read):
    h = hashlib.sha256()
    with open(os.path.join(DIR, "up"), "wb") as f:
        while True:
            data = read(1 << 20)
            if not data:
                break
            h.update(data)
            f.write(data)
    return h.hexdigest().encode()
def chunks():
    with open(BLOB, "rb") as f:
        while data := f.read(1 << 20):
            yield data
"""

WSGI_APP = (
    COMMON
    + """
def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/upload":
        body = store(environ["wsgi.input"].read)
        start_response("201 Created", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/blob":
        start_response("200 OK", [("Content-Length", str(os.path.getsize(BLOB)))])
        return chunks()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
"""
)

SERVERS = {
    "werkzeug": WSGI_APP
    + """
from werkzeug.serving import make_server
server = make_server("127.0.0.1", 0, app, threaded=True)
print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
""",
    "cheroot": WSGI_APP
    + """
from cheroot import wsgi
server = wsgi.Server(("127.0.0.1", 0), app, numthreads=16)
server.prepare()
print(f"listening on http://127.0.0.1:{server.bind_addr[1]}", flush=True)
server.serve()
""",
    "uvicorn": COMMON
    + """
import asyncio, socket
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/upload":
        h = hashlib.sha256()
        with open(os.path.join(DIR, "up"), "wb") as f:
            more = True
            while more:
                message = await receive()
                data = message.get("body", b"")
                h.update(data)
                f.write(data)
                more = message.get("more_body", False)
        body = h.hexdigest().encode()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/blob":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(os.path.getsize(BLOB)).encode())]})
        for data in chunks():
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
import uvicorn
sock = socket.socket(); sock.bind(("127.0.0.1", 0))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
sock.listen(128)
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False)).run(sockets=[sock])
""",
}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests_per_second(port: int, connections: int, seconds: float = 2.0) -> float:
    counts = [0] * connections
    deadline = time.perf_counter() + seconds

    def run(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            counts[n] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def body_chunks():
    block = b"\xa5" * CHUNK
    for _ in range(SIZE // CHUNK):
        yield block


def upload(port: int, fake: bool) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    path = "/upload"
    if fake:
        conn.request("POST", "/v2/bench/app/blobs/uploads/")
        r = conn.getresponse()
        r.read()
        path = r.getheader("Location", "").split(f":{port}", 1)[1]
    t0 = time.perf_counter()
    conn.request("PATCH", path, body=body_chunks(), encode_chunked=True)
    r = conn.getresponse()
    r.read()
    assert r.status in (201, 202), r.status
    elapsed = time.perf_counter() - t0
    if fake:
        digest = "sha256:" + hashlib.sha256(b"\xa5" * SIZE).hexdigest()
        conn.request("PUT", f"{path}?digest={digest}", body=b"")
        r = conn.getresponse()
        r.read()
        assert r.status == 201, r.status
    conn.close()
    return elapsed


def download(port: int, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    total = 0
    while data := r.read(CHUNK):
        total += len(data)
    assert total == SIZE, total
    conn.close()
    return time.perf_counter() - t0


def measure(name: str, argv: list[str], fake: bool) -> str:
    # stderr to a file: a server logging every request would fill a pipe and block
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            return run_measurements(name, proc, errors, fake)
        finally:
            proc.terminate()
            proc.wait(10)


def run_measurements(name: str, proc: subprocess.Popen[str], errors, fake: bool) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.wait()
        errors.seek(0)
        return f"{name:9} not available: {(errors.read().strip().splitlines() or ['no output'])[-1]}"
    port = int(line.rsplit(":", 1)[1])
    one = requests_per_second(port, 1)
    four = requests_per_second(port, 4)
    up = upload(port, fake)
    blob_path = (
        "/v2/bench/app/blobs/sha256:" + hashlib.sha256(b"\xa5" * SIZE).hexdigest() if fake else "/blob"
    )
    down = download(port, blob_path)
    mib = SIZE >> 20
    return (
        f"{name:9} {one:6.0f} req/s (1 conn) {four:6.0f} req/s (4 conns)  "
        f"upload {mib / up:5.0f} MiB/s  download {mib / down:5.0f} MiB/s  peak RSS {peak_rss_mib(proc.pid):4.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "blob"
        with blob.open("wb") as f:
            for data in body_chunks():
                f.write(data)
        print(
            measure(
                "stdlib", [args.python, "-m", "fake_registry", "serve", "--listen", "127.0.0.1:0"], fake=True
            )
        )
        for name, source in SERVERS.items():
            script = Path(tmp) / f"{name}_server.py"
            script.write_text(textwrap.dedent(source))
            print(measure(name, [args.python, str(script), str(blob)], fake=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
