"""check, in and out against registry:2 with token auth: our Bearer client proven on the real registry.

The fake registry's Bearer flow is our own reading of the protocol; ``bearer_registry`` is
distribution's (JWTs from ``integration.token_server``, verified by the registry against the
signer's certificate). The resource runs as Concourse runs it, with ``debug: true``, and neither the
password (plain, JSON-escaped or as Basic credentials) nor any token (every JWT starts ``eyJ``, the
base64 of ``{"``) may appear in its output.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fake_registry import File, ImageConfig, build_image, write_oci_layout
from integration.resource_cli import Result, base_env, run_resource
from integration.servers import RegistryServer

IMAGE = build_image(
    [{"etc/greeting": File("hello through a token\n")}, {"bin/app": File("#!/bin/sh\n", mode=0o755)}],
    ImageConfig(cmd=["/bin/app"], labels={"org.example": "token-auth"}),
)


def assert_no_secret(result: Result, registry: RegistryServer) -> None:
    assert registry.password is not None
    basic = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    output = result.stdout + result.stderr
    assert "DEBUG " in result.stderr  # debug was on, so there was something to leak into
    leaked = [
        s for s in (registry.password, json.dumps(registry.password)[1:-1], basic, "eyJ") if s in output
    ]
    assert leaked == []


def test_out_check_and_in_with_token_auth(
    bearer_registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    source: dict[str, Any] = {
        "repository": bearer_registry.repository(repo_name),
        "tag": "latest",
        "username": bearer_registry.username,
        "password": bearer_registry.password,
        "debug": True,
    }
    env = base_env(tmp_path)
    src = tmp_path / "src"
    layout = write_oci_layout(IMAGE, src / "layout", "latest")
    (layout / "single-image-digest").write_text(IMAGE.digest)

    put = run_resource(
        "out", {"source": source, "params": {"image": "layout", "version": "1.2.3"}}, str(src), env=env
    )
    assert put.json == {
        "version": {"tag": "latest", "digest": IMAGE.digest},
        "metadata": [
            {"name": "repository", "value": bearer_registry.repository(repo_name)},
            {"name": "tags", "value": "latest 1.2.3"},
        ],
    }
    assert_no_secret(put, bearer_registry)

    checked = run_resource("check", {"source": source, "version": None}, env=env)
    assert checked.json == [{"tag": "latest", "digest": IMAGE.digest}]
    assert_no_secret(checked, bearer_registry)

    dest = tmp_path / "dest"
    dest.mkdir()
    got = run_resource(
        "in",
        {"source": source, "version": {"tag": "latest", "digest": IMAGE.digest}, "params": {}},
        str(dest),
        env=env,
    )
    assert got.json == {
        "version": {"tag": "latest", "digest": IMAGE.digest},
        "metadata": [
            {"name": "repository", "value": bearer_registry.repository(repo_name)},
            {"name": "tag", "value": "latest"},
        ],
    }
    assert (dest / "rootfs" / "etc" / "greeting").read_text() == "hello through a token\n"
    assert (dest / "digest").read_text() == IMAGE.digest
    assert (dest / "labels.json").read_text() == '{"org.example":"token-auth"}\n'
    assert_no_secret(got, bearer_registry)


def test_a_wrong_password_fails_with_the_token_servers_refusal(
    bearer_registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    source = {
        "repository": bearer_registry.repository(repo_name),
        "tag": "latest",
        "username": bearer_registry.username,
        "password": "wrong-password-5c1d",
        "debug": True,
    }
    result = run_resource("check", {"source": source, "version": None}, env=base_env(tmp_path), ok=False)
    assert result.last_line == (
        f"ERROR checking origin {bearer_registry.repository(repo_name)} failed: initialize transport: "
        f"fetching a token for {bearer_registry.host}: GET {bearer_registry.token_realm}: "
        "401 Unauthorized: UNAUTHORIZED: incorrect username or password"
    )
    assert "wrong-password-5c1d" not in result.stdout + result.stderr
