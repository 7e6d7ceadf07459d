"""``check`` as a process: one JSON document on success; on failure exit 1, nothing on stdout and
one clear last stderr line (no traceback) naming the field or the registry, status and code."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _run(request: dict) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "check"],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "TEST": "true"},
        check=False,
    )


def _last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode().rstrip("\n").splitlines()[-1]


def test_check_prints_versions(fake_registry):
    digest = fake_registry.push_image("test/app", "1.0.0").digest
    result = _run({"source": {"repository": f"{fake_registry.host}/test/app"}})
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        json.dumps([{"tag": "1.0.0", "digest": digest}], separators=(",", ":")).encode() + b"\n",
        b"",
    )


def test_empty_result_is_an_empty_array(fake_registry):
    fake_registry.push_image("test/app", "not-a-version")
    result = _run({"source": {"repository": f"{fake_registry.host}/test/app"}})
    assert (result.returncode, result.stdout) == (0, b"[]\n")


def test_invalid_regex_names_the_field(fake_registry):
    result = _run({"source": {"repository": f"{fake_registry.host}/test/app", "tag_regex": "a(?<=b)"}})
    assert (result.returncode, result.stdout) == (1, b"")
    assert _last_line(result).endswith("source.tag_regex: invalid regex pattern: invalid perl operator: (?<=")
    assert "Traceback" not in result.stderr.decode()
    assert fake_registry.requests.all() == []


def test_invalid_constraint_names_the_field(fake_registry):
    result = _run({"source": {"repository": f"{fake_registry.host}/test/app", "semver_constraint": ">=1 <"}})
    assert (result.returncode, result.stdout) == (1, b"")
    assert _last_line(result).endswith(
        'source.semver_constraint: parse semver constraint: improper constraint: ">=1 <"'
    )


def test_registry_error_names_registry_status_and_code(fake_registry):
    fake_registry.push_image("test/app", "1.0.0")
    fake_registry.faults.status(500, r"/tags/list", times=None)
    result = _run({"source": {"repository": f"{fake_registry.host}/test/app"}})
    assert (result.returncode, result.stdout) == (1, b"")
    line = _last_line(result)
    assert line.endswith(
        f"checking origin {fake_registry.host}/test/app failed: list repository tags: "
        f"GET http://{fake_registry.host}/v2/test/app/tags/list?n=1000: 500 Internal Server Error: UNKNOWN: "
        "unknown error (gave up after 5 attempts)"
    ), line
    assert "Traceback" not in result.stderr.decode()


def test_garbage_tag_list(stub_server):
    Reply = type(stub_server).reply_class
    stub_server.route(
        "GET", "/v2/test/app/tags/list", Reply(200, {"Content-Type": "application/json"}, b"<html>")
    )
    result = _run({"source": {"repository": f"{stub_server.host}/test/app"}})
    assert (result.returncode, result.stdout) == (1, b"")
    assert _last_line(result).endswith(
        f"checking origin {stub_server.host}/test/app failed: list repository tags: "
        f"GET http://{stub_server.host}/v2/test/app/tags/list?n=1000: invalid JSON in tag list"
    )
