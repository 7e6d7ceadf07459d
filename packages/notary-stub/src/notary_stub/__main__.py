"""``python -m notary_stub serve``: the stub as a process, until SIGTERM or SIGINT.

Owns argument parsing and the ready line (``listening on http(s)://HOST:PORT``, first on stdout,
flushed once connections are accepted). It never prints a password.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from fake_registry.lowlevel import parse_users
from notary_stub._server import NotaryServer


def _listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notary_stub", description="Notary v1 server stub")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until SIGTERM/SIGINT")
    serve.add_argument(
        "--listen", type=_listen, default=("127.0.0.1", 0), help="HOST:PORT (port 0: any free)"
    )
    serve.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (repeatable)")
    serve.add_argument(
        "--auth",
        choices=["basic", "bearer"],
        help="with --user: Basic (default) or Bearer tokens from /auth/token",
    )
    serve.add_argument("--tls", action="store_true", help="HTTPS with a generated CA")
    serve.add_argument("--ca-out", type=Path, help="write the CA certificate (PEM) here (with --tls)")
    serve.add_argument("--hostname", action="append", default=[], help="extra name for the TLS certificate")
    serve.add_argument("--storage", type=Path, help="keep metadata and keys in this directory")
    serve.add_argument(
        "--client-ca", type=Path, help="with --tls: require client certificates from this CA (PEM)"
    )
    args = parser.parse_args(argv)

    host, port = args.listen
    try:
        users = parse_users(args.user)
    except ValueError:
        parser.error("--user wants NAME:PASSWORD")
    server = NotaryServer(
        host=host,
        port=port,
        tls=args.tls,
        users=users,
        auth=args.auth,
        storage=args.storage,
        hostnames=args.hostname,
        client_ca=args.client_ca.read_text() if args.client_ca else None,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with server:
        if args.ca_out is not None and server.ca_pem is not None:
            args.ca_out.write_text(server.ca_pem)
        sys.stdout.write(f"listening on {server.url}\n")
        sys.stdout.flush()
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
