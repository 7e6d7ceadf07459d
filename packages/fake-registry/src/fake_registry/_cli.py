"""The command line: ``python -m fake_registry serve --listen HOST:PORT [...]``.

Owns argument parsing, the ready line (``listening on http(s)://HOST:PORT``, the first stdout
line, flushed once the socket accepts connections) and signal handling (SIGTERM/SIGINT stop the
server cleanly, exit 0). Later stdout lines tell where the CA file and proxy are. Must never print
a password.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from fake_registry._registry import FakeRegistry
from fake_registry._storage import UPLOAD_TIMEOUT


def split_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fake_registry", description="A fake OCI registry for tests."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the registry until SIGTERM/SIGINT")
    serve.add_argument(
        "--listen", type=split_listen, default=("127.0.0.1", 0), help="HOST:PORT (port 0: free)"
    )
    serve.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD", help="repeatable")
    serve.add_argument("--auth", choices=["basic", "bearer"], help="auth scheme with --user (default basic)")
    serve.add_argument("--anonymous-pull", action="store_true", help="bearer: anonymous users may pull")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    serve.add_argument("--hostname", action="append", default=[], help="TLS certificate names (repeatable)")
    serve.add_argument("--ca-out", type=Path, help="write the CA certificate (PEM) to this file")
    serve.add_argument("--storage", type=Path, help="keep state in this directory (default: memory)")
    serve.add_argument(
        "--proxy-listen", type=split_listen, help="also run the HTTPS impersonation proxy on HOST:PORT"
    )
    serve.add_argument(
        "--upload-timeout",
        type=float,
        default=UPLOAD_TIMEOUT,
        metavar="SECONDS",
        help="upload sessions are forgotten this long after they started (default: a week)",
    )
    serve.add_argument(
        "--control",
        action="store_true",
        help="answer the control API under /_fake/ (faults, seeding, request log, reset over HTTP)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for item in args.user:
        if ":" not in item or item.startswith(":"):
            print("--user must be NAME:PASSWORD", file=sys.stderr)
            return 2
    host, port = args.listen
    proxy_host, proxy_port = args.proxy_listen or (host, 0)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    registry = FakeRegistry(
        host=host,
        port=port,
        users=args.user,
        auth=args.auth,
        anonymous_pull=args.anonymous_pull,
        tls=args.tls,
        hostnames=args.hostname,
        storage=args.storage,
        proxy=args.proxy_listen is not None,
        proxy_port=proxy_port,
        proxy_host=proxy_host,
        control=args.control,
        upload_timeout=args.upload_timeout,
    )
    with registry:
        if args.ca_out is not None and registry.ca_pem is not None:
            args.ca_out.write_text(registry.ca_pem)
        print(f"listening on {registry.url}", flush=True)
        if registry.ca_file is not None:
            print(f"ca-file {args.ca_out or registry.ca_file}", flush=True)
        if registry.proxy is not None:
            print(f"proxy on {registry.proxy.url}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0
