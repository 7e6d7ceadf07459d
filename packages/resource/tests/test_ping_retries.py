"""SPEC A.2.3: every request is retried, the ping included. A fault on the first ``GET /v2/`` (a
reset, 429 with ``Retry-After``, 500, 502, 503, 504) is repeated by check, in and out alike, each
run as a process against the fake registry, and the command then succeeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_registry import build_image, write_oci_layout

PING = r"^/v2/$"

FAULTS: dict[str, Callable[[Any], object]] = {
    "reset": lambda faults: faults.reset(PING, method="GET"),
    "429": lambda faults: faults.status(429, PING, method="GET", retry_after=1),
    "500": lambda faults: faults.status(500, PING, method="GET"),
    "502": lambda faults: faults.status(502, PING, method="GET"),
    "503": lambda faults: faults.status(503, PING, method="GET"),
    "504": lambda faults: faults.status(504, PING, method="GET"),
}

REASONS = {
    "reset": "the server closed the connection without an answer",
    "429": "429 Too Many Requests: TOOMANYREQUESTS: too many requests",
    "500": "500 Internal Server Error",
    "502": "502 Bad Gateway",
    "503": "503 Service Unavailable",
    "504": "504 Gateway Timeout",
}


def run(command: str, args: list[str], request: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", command, *args],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        env={**os.environ, "TEST": "true"},
        check=False,
    )


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("command", ["check", "in", "out"])
def test_a_fault_on_the_first_ping_is_retried(
    fake_registry, tmp_path: Path, command: str, fault: str
) -> None:
    source = {"repository": f"{fake_registry.host}/test/app"}
    digest = fake_registry.push_image("test/app", "1.0.0").digest
    FAULTS[fault](fake_registry.faults)
    if command == "check":
        result = run("check", [], {"source": source})
        expected: Any = [{"tag": "1.0.0", "digest": digest}]
    elif command == "in":
        dest = tmp_path / "dest"
        dest.mkdir()
        result = run("in", [str(dest)], {"source": source, "version": {"digest": digest}})
        expected = {"version": {"digest": digest}}
    else:
        write_oci_layout(build_image([{"a.txt": b"pushed\n"}]), tmp_path / "layout", tag="2.0.0")
        source["tag"] = "2.0.0"
        result = run("out", [str(tmp_path)], {"source": source, "params": {"image": "layout"}})
        expected = None
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    if command == "check":
        assert document == expected
    elif command == "in":
        assert document["version"]["digest"] == digest
        assert (tmp_path / "dest" / "digest").read_text() == digest
    else:
        assert document["version"]["tag"] == "2.0.0"
    warning = next(line for line in result.stderr.decode().splitlines() if "transient error" in line)
    assert f"GET http://{fake_registry.host}/v2/: {REASONS[fault]}" in warning
    assert "; retrying in " in warning
    pings = [r for r in fake_registry.requests.find("GET", "/v2/") if r.path == "/v2/"]
    assert len(pings) >= 2


def test_a_probe_that_crashes_is_raised_not_waited_for(fake_registry, monkeypatch) -> None:
    """A bug inside a probe's thread (here a ``KeyError``) reaches the caller as that exception,
    the internal error it is, instead of leaving it waiting forever for the probe's answer."""
    from registry_image_resource.registry import ping as ping_module
    from registry_image_resource.registry._http.transport import (
        ConnectOptions,
        deferred_tls_context,
        new_http,
    )
    from registry_image_resource.registry.retry import RetryPolicy

    def crash(http: object, registry: str, scheme: str) -> None:
        raise KeyError(f"bug in the {scheme} probe")

    monkeypatch.setattr(ping_module, "_probe", crash)
    options = ConnectOptions()
    http = new_http(deferred_tls_context(options), registry=fake_registry.host, insecure=False)
    with pytest.raises(KeyError) as caught:
        ping_module.ping(http, fake_registry.host, options, RetryPolicy())
    assert caught.value.args == ("bug in the https probe",)
