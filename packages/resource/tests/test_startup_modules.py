"""What ``check`` loads: tag mode against the fake registry, in a process of its own, compared
with an allow-list. ``check`` runs every minute for every pipeline, so a module that creeps onto
its path (``email`` through ``http.client``, ``logging``, ``urllib3``, ``requests``, ``boto3``)
costs every user; this test names it. A module that is really needed is added here on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# ``entry`` leaves ``check`` with ``os._exit``: the list is written just before.
_DUMP = """
import os, sys
target = sys.argv[1]
def dump():
    with open(target, "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
"""
_PROBE = (
    _DUMP
    + """
leave = os._exit
def _exit(code):
    dump()
    leave(code)
os._exit = _exit
sys.argv = ["registry-image-resource", "check"]
from registry_image_resource.entry import entry
entry()
"""
)

FORBIDDEN = {
    "boto3",
    "botocore",
    "cryptography",
    "email",
    "http.client",
    "logging",
    "nacl",
    "requests",
    "urllib3",
    "urllib.request",
    "zstandard",
    "isal",
    "re2",
    "tarfile",
    "hashlib",
    "asyncio",
    "concurrent.futures",
}

# Third-party and stdlib packages the tag-mode path may load, with their submodules (the
# forbidden ones above are checked first; its own modules are listed below).
ALLOWED_OTHERS = {
    "h11",  # HTTP/1.1 framing (registry/_http/framing.py)
    "gc",  # entry disables the cyclic collector for check
    "importlib",
    "base64",
    "binascii",
    "bisect",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "copyreg",
    "dataclasses",
    "datetime",
    "enum",
    "errno",
    "functools",
    "heapq",
    "inspect",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "math",
    "operator",
    "random",
    "re",
    "reprlib",
    "select",
    "selectors",
    "socket",
    "ssl",  # the HTTPS probe comes first, also for a loopback registry (SPEC B.6.1)
    "string",
    "struct",
    "threading",
    "time",
    "token",
    "tokenize",
    "types",
    "typing",
    "urllib",
    "urllib.parse",
    "warnings",
    "weakref",
    "ast",
    "dis",
    "opcode",
    "textwrap",
    "array",
}


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _loaded(tmp_path: Path, source: dict[str, object], script: str = _PROBE) -> set[str]:
    out = tmp_path / f"modules-{len(list(tmp_path.iterdir()))}.txt"
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        input=json.dumps({"source": source}).encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "TEST": "true"},
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return set(out.read_text().split("\n"))


def test_tag_mode_check_loads_only_allowed_modules(fake_registry, tmp_path):
    fake_registry.push_image("test/app", "latest")
    baseline = _loaded(tmp_path, {}, _DUMP + "dump()\n")  # what the interpreter loads anyway
    source = {"repository": f"{fake_registry.host}/test/app", "tag": "latest"}
    loaded = _loaded(tmp_path, source) - baseline
    ours = {name for name in loaded if _top(name) == "registry_image_resource"}
    others = {name for name in loaded - ours if not name.startswith("_")}
    assert sorted(name for name in loaded if name in FORBIDDEN or _top(name) in FORBIDDEN) == []
    unexpected = sorted(name for name in others if _top(name) not in ALLOWED_OTHERS)
    assert unexpected == [], " ".join(unexpected)
    assert sorted(ours - ALLOWED_OURS) == [], " ".join(sorted(ours - ALLOWED_OURS))


ALLOWED_OURS = {
    "registry_image_resource",
    "registry_image_resource.cli",
    "registry_image_resource.commands",
    "registry_image_resource.commands.check",
    "registry_image_resource.commands.check.request",
    "registry_image_resource.entry",
    "registry_image_resource.errors",
    "registry_image_resource.log",
    "registry_image_resource.log.masking",
    "registry_image_resource.protocol",
    "registry_image_resource.protocol.decoding",
    "registry_image_resource.protocol.go_json",
    "registry_image_resource.protocol.models",  # not optional_models: built only when a request sets one
    "registry_image_resource.protocol.source",
    "registry_image_resource.registry",
    "registry_image_resource.registry._http",
    "registry_image_resource.registry._http.connections",
    "registry_image_resource.registry._http.framing",
    "registry_image_resource.registry._http.proxies",
    "registry_image_resource.registry._http.transport",
    "registry_image_resource.registry.auth",
    "registry_image_resource.registry.client",
    "registry_image_resource.registry.digests",
    "registry_image_resource.registry.errors",
    "registry_image_resource.registry.mediatypes",
    "registry_image_resource.registry.ping",
    "registry_image_resource.registry.reference",
    "registry_image_resource.registry.retry",
    "registry_image_resource.sources",
    "registry_image_resource.sources.routing",
    "registry_image_resource.versioning",
    "registry_image_resource.versioning.versions",
}
