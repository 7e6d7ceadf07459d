"""The resource protocol: stdin JSON in, one JSON document out, exit 0 or 1 (SPEC A.1, B.1.1).

This module owns the process boundary only: reading the request, choosing the command, printing
the response, and turning any error into the last stderr line. It must never print anything to
stdout except the single successful response, and never a secret anywhere.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from registry_image_resource.errors import RequestError, ResourceError
from registry_image_resource.log import configure, get_logger, redact

if TYPE_CHECKING:
    from pathlib import Path

    from registry_image_resource.get_put_models import InRequest, OutRequest
    from registry_image_resource.models import CheckRequest, Version

COMMANDS = ("check", "in", "out")
USAGE = "usage: registry-image-resource check | in DEST | out SRC"


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(document: Any) -> str:
    """Compact JSON the way Go's ``json.Encoder`` writes it, plus newline.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 in strings (they only occur in strings) and
    writes a lone surrogate, which Python strings can hold but UTF-8 cannot, as U+FFFD.
    """
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text) + "\n"


def one_line(message: str) -> str:
    """The error as one line, so that the last stderr line carries all of it."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _command(name: str) -> Any:
    """The module of one command, imported only when that command runs (lean start-up for check)."""
    module = f"registry_image_resource.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise ResourceError(f"{name} is not implemented yet") from None


def _run(command: str, args: list[str], raw: bytes, secrets: list[str]) -> Any:
    # Imports are per command so that ``check`` (run every minute per pipeline) loads only its own code.
    from registry_image_resource import request as req

    if command == "check":
        check_request = req.decode_check(raw)
        secrets.extend(req.secrets_of(check_request.source))
        configure(debug=check_request.source.debug, secrets=secrets, deferred=True)
        run_check: Callable[[CheckRequest], list[Version]] = _command("check").run
        return [{"tag": v.tag, "digest": v.digest} for v in run_check(check_request)]
    if command == "in":
        in_request = req.decode_in(raw)
        secrets.extend(req.secrets_of(in_request.source))
        configure(debug=in_request.source.debug, secrets=secrets)
        # SPEC B.1.1: checked after decoding, same text for in and out.
        if not args:
            raise RequestError("destination path not specified")
        from pathlib import Path

        run_get: Callable[[InRequest, Path], dict[str, Any]] = _command("get").run
        return run_get(in_request, Path(args[0]))
    if command == "out":
        out_request = req.decode_out(raw)
        secrets.extend(req.secrets_of(out_request.source))
        configure(debug=out_request.source.debug, secrets=secrets)
        if not args:
            raise RequestError("destination path not specified")
        from pathlib import Path

        run_put: Callable[[OutRequest, Path], dict[str, Any]] = _command("put").run
        return run_put(out_request, Path(args[0]))
    raise RequestError(f"unknown command {command!r}; {USAGE}")


def _fail(message: str, secrets: list[str]) -> int:
    # The handler masks too (with secrets added at run time); masking here first keeps a
    # multi-line secret whole before the message is folded onto one line.
    get_logger().error(one_line(redact(message, secrets)))
    return 1


def main(argv: list[str] | None = None) -> int:
    """The resource's commands in this process; ``process.entry`` wraps it for the console script
    and ``python -m registry_image_resource``. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    configure(debug=False, deferred=True)  # until the request says more; see log.py
    secrets: list[str] = []
    if not args:
        return _fail(USAGE, secrets)
    if args[0] not in COMMANDS:  # before reading stdin, which may be a terminal
        return _fail(f"unknown command {args[0]!r}; {USAGE}", secrets)
    try:
        from registry_image_resource.request import read_request

        raw = read_request(sys.stdin.buffer) if sys.stdin is not None else b""
        document = _run(args[0], args[1:], raw, secrets)
        output = encode(document)
    except ResourceError as err:
        return _fail(str(err), secrets)
    except KeyboardInterrupt:
        return _fail("interrupted", secrets)
    except Exception as err:  # a bug: still one line, still no secret, still exit 1
        return _fail(f"internal error: {type(err).__name__}: {err}", secrets)
    # UTF-8 whatever the locale, as Go writes it.
    sys.stdout.buffer.write(output.encode("utf-8"))
    sys.stdout.flush()
    return 0
