"""JSON written the way Go's ``encoding/json`` writes it: the response on stdout, and the
documents ``in`` writes and ``out`` pushes (manifests, ``index.json``, ``labels.json``).

The one encoder for every such document, so that stdout and the files agree byte for byte with
the Go resource's. It must never do I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def go_json_text(document: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 in strings (they only occur in strings) and
    writes a lone surrogate, which Python strings can hold but UTF-8 cannot, as U+FFFD.
    """
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\ufffd", text)


def go_json(document: Any) -> bytes:
    """``go_json_text`` as UTF-8 bytes: a document to write or push."""
    return go_json_text(document).encode()


def encode(document: Any) -> str:
    """The response line: what Go's ``json.Encoder`` writes (``go_json_text`` plus a newline)."""
    return go_json_text(document) + "\n"
