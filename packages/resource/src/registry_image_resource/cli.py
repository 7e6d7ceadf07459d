"""The resource protocol: stdin JSON in, one JSON document out, exit 0 or 1 (SPEC A.1, B.1.1).

This module owns the process boundary only: reading the request, choosing the command, printing
the response, and turning any error into the last stderr line. It must never print anything to
stdout except the single successful response, and never a secret anywhere.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.log import configure, get_logger, redact

if TYPE_CHECKING:
    from pathlib import Path

    from registry_image_resource.protocol.models import Source

COMMANDS = ("check", "in", "out")
USAGE = "usage: registry-image-resource check | in DEST | out SRC"


def one_line(message: str) -> str:
    """The error as one line, so that the last stderr line carries all of it."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _run(command: str, args: list[str], raw: bytes, secrets: list[str]) -> Any:
    # Each command's package is imported only when it runs (``commands/__init__`` imports none),
    # so that ``check`` (run every minute per pipeline) loads only its own code.
    if command == "check":
        from registry_image_resource.commands import check
        from registry_image_resource.commands.check.request import decode_check

        check_request = decode_check(raw)
        _configure(check_request.source, secrets, deferred=True)
        return [{"tag": v.tag, "digest": v.digest} for v in check.run(check_request)]
    if command == "in":
        from registry_image_resource.commands import get
        from registry_image_resource.commands.get.request import decode_in

        in_request = decode_in(raw)
        _configure(in_request.source, secrets)
        return get.run(in_request, _destination(args))
    if command == "out":
        from registry_image_resource.commands import put
        from registry_image_resource.commands.put.request import decode_out

        out_request = decode_out(raw)
        _configure(out_request.source, secrets)
        return put.run(out_request, _destination(args))
    raise RequestError(f"unknown command {command!r}; {USAGE}")


def _configure(source: Source, secrets: list[str], *, deferred: bool = False) -> None:
    """Logging at the request's level, masking every secret the request carries from now on."""
    from registry_image_resource.protocol.source import secrets_of

    secrets.extend(secrets_of(source))
    configure(debug=source.debug, secrets=secrets, deferred=deferred)


def _destination(args: list[str]) -> Path:
    """The directory argument of ``in`` and ``out``; checked after decoding (SPEC B.1.1)."""
    if not args:
        raise RequestError("destination path not specified")
    from pathlib import Path

    return Path(args[0])


def _fail(message: str, secrets: list[str]) -> int:
    # The handler masks too (with secrets added at run time); masking here first keeps a
    # multi-line secret whole before the message is folded onto one line.
    get_logger().error(one_line(redact(message, secrets)))
    return 1


def _cosign_keygen(args: list[str]) -> int:
    """Not a resource command: a key pair for users without cosign, in the same error style."""
    import getpass
    import os

    from registry_image_resource.trust.cosign.keygen import keygen

    password = os.environ.get("COSIGN_PASSWORD")
    terminal = sys.stdin is not None and sys.stdin.isatty()
    try:
        lines = keygen(args, os.environ, getpass.getpass if terminal else None)
    except ResourceError as err:
        return _fail(str(err), [password] if password else [])
    for line in lines:
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The resource's commands in this process; ``entry.entry`` wraps it for the console script
    and ``python -m registry_image_resource``. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    configure(debug=False, deferred=True)  # until the request says more; see the log package
    secrets: list[str] = []
    if not args:
        return _fail(USAGE, secrets)
    if args[0] == "cosign-keygen":
        return _cosign_keygen(args[1:])
    if args[0] not in COMMANDS:  # before reading stdin, which may be a terminal
        return _fail(f"unknown command {args[0]!r}; {USAGE}", secrets)
    try:
        from registry_image_resource.protocol.decoding import read_request

        raw = read_request(sys.stdin.buffer) if sys.stdin is not None else b""
        document = _run(args[0], args[1:], raw, secrets)
        from registry_image_resource.protocol.go_json import encode

        output = encode(document)
    except ResourceError as err:
        return _fail(str(err), secrets)
    except KeyboardInterrupt:
        return _fail("interrupted", secrets)
    except Exception as err:  # a bug: still one line, still no secret, still exit 1
        get_logger().debug_traceback("internal error")  # with debug: true, the traceback (masked)
        return _fail(f"internal error: {type(err).__name__}: {err}", secrets)
    # UTF-8 whatever the locale, as Go writes it.
    sys.stdout.buffer.write(output.encode("utf-8"))
    sys.stdout.flush()
    return 0
