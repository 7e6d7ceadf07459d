"""The resource protocol: stdin JSON in, one JSON document out, exit 0 or 1 (SPEC A.1, B.1.1).

This module owns the process boundary only: reading the request, choosing the command, printing
the response, and turning any error into the last stderr line. It must never print anything to
stdout except the single successful response, and never a secret anywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from registry_image_resource.errors import ResourceError
from registry_image_resource.log import configure, redact

USAGE = "usage: registry-image-resource check | in DEST | out SRC"


def encode(document: Any) -> str:
    """Compact JSON the way Go's ``json.Encoder`` writes it (``<``, ``>``, ``&`` escaped), plus newline."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def _run(command: str, args: list[str], raw: bytes, secrets: list[str]) -> Any:
    # Imports are per command so that ``check`` (run every minute per pipeline) loads only its own code.
    from registry_image_resource import request as req

    if command == "check":
        check_request = req.decode_check(raw)
        secrets.extend(req.secrets_of(check_request.source))
        configure(debug=check_request.source.debug, secrets=secrets)
        from registry_image_resource import check

        return [{"tag": v.tag, "digest": v.digest} for v in check.run(check_request)]
    if command == "in":
        in_request = req.decode_in(raw)
        secrets.extend(req.secrets_of(in_request.source))
        configure(debug=in_request.source.debug, secrets=secrets)
        if not args:
            raise ResourceError("destination path not specified")
        from registry_image_resource import get

        return get.run(in_request, Path(args[0]))
    if command == "out":
        out_request = req.decode_out(raw)
        secrets.extend(req.secrets_of(out_request.source))
        configure(debug=out_request.source.debug, secrets=secrets)
        if not args:
            raise ResourceError("destination path not specified")
        from registry_image_resource import put

        return put.run(out_request, Path(args[0]))
    raise ResourceError(f"unknown command {command!r}; {USAGE}")


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m registry_image_resource`` and the console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    logger = configure(debug=False)
    if not args:
        logger.error(USAGE)
        return 1
    command = args[0]
    secrets: list[str] = []
    try:
        raw = sys.stdin.buffer.read()
        document = _run(command, args[1:], raw, secrets)
    except ResourceError as err:
        configure(debug=False, secrets=secrets).error(redact(str(err), secrets))
        return 1
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 1
    except Exception as err:  # a bug: still one line, still no secret, still exit 1
        message = f"internal error: {type(err).__name__}: {err}"
        configure(debug=False, secrets=secrets).error(redact(message, secrets))
        return 1
    sys.stdout.write(encode(document))
    sys.stdout.flush()
    return 0
