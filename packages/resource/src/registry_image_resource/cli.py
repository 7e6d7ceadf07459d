"""The resource protocol: stdin JSON in, one JSON document out, exit 0 or 1 (SPEC A.1, B.1.1).

This module owns the process boundary only: reading the request, choosing the command, printing
the response, and turning any error into the last stderr line. It must never print anything to
stdout except the single successful response, and never a secret anywhere.
"""

from __future__ import annotations

import sys
from typing import Any

from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.log import configure, get_logger, redact

COMMANDS = ("check", "in", "out")
USAGE = "usage: registry-image-resource check | in DEST | out SRC"


def one_line(message: str) -> str:
    """The error as one line, so that the last stderr line carries all of it."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _run(command: str, args: list[str], raw: bytes, secrets: list[str]) -> Any:
    # Each command's package is imported only when it runs (``commands/__init__`` imports none),
    # so that ``check`` (run every minute per pipeline) loads only its own code.
    from registry_image_resource.protocol.decoding import secrets_of

    if command == "check":
        from registry_image_resource.commands import check
        from registry_image_resource.commands.check.request import decode_check

        check_request = decode_check(raw)
        secrets.extend(secrets_of(check_request.source))
        configure(debug=check_request.source.debug, secrets=secrets, deferred=True)
        return [{"tag": v.tag, "digest": v.digest} for v in check.run(check_request)]
    if command == "in":
        from registry_image_resource.commands.get.request import decode_in

        in_request = decode_in(raw)
        secrets.extend(secrets_of(in_request.source))
        configure(debug=in_request.source.debug, secrets=secrets)
        # SPEC B.1.1: checked after decoding, same text for in and out.
        if not args:
            raise RequestError("destination path not specified")
        from pathlib import Path

        from registry_image_resource.commands import get

        return get.run(in_request, Path(args[0]))
    if command == "out":
        from registry_image_resource.commands.put.request import decode_out

        out_request = decode_out(raw)
        secrets.extend(secrets_of(out_request.source))
        configure(debug=out_request.source.debug, secrets=secrets)
        if not args:
            raise RequestError("destination path not specified")
        from pathlib import Path

        from registry_image_resource.commands import put

        return put.run(out_request, Path(args[0]))
    raise RequestError(f"unknown command {command!r}; {USAGE}")


def _fail(message: str, secrets: list[str]) -> int:
    # The handler masks too (with secrets added at run time); masking here first keeps a
    # multi-line secret whole before the message is folded onto one line.
    get_logger().error(one_line(redact(message, secrets)))
    return 1


def main(argv: list[str] | None = None) -> int:
    """The resource's commands in this process; ``entry.entry`` wraps it for the console script
    and ``python -m registry_image_resource``. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    configure(debug=False, deferred=True)  # until the request says more; see the log package
    secrets: list[str] = []
    if not args:
        return _fail(USAGE, secrets)
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
