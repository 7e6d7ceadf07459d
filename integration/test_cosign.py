"""Cosign signatures end to end against the real registry: ``out`` signs, ``check`` and ``in`` verify.

The resource runs as Concourse runs it (JSON on stdin). Keys come from the resource's own
``cosign-keygen`` command and from the key module; signatures that must fail (tampered payload,
another key, another digest or repository) are written into the registry with the resource's
cosign core, the way a hostile or confused signer would. skopeo (Debian's 1.9, whose sigstore
crypto is disabled) shows that the signature tag we push is a well-formed image it reads and
copies byte for byte.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fake_registry import ImageConfig, build_image, build_index, write_docker_archive, write_oci_layout
from integration.resource_cli import base_env, run_resource
from integration.servers import RegistryServer, run_tool, skopeo_copy
from registry_image_resource.registry.client import ConnectOptions, RegistryClient
from registry_image_resource.registry.reference import parse_repository
from registry_image_resource.trust.cosign import (
    append_signature,
    build_payload,
    generate_key_pair,
    load_private_key,
    load_public_key,
    signature_tag,
)
from registry_image_resource.trust.cosign.remote import read_signature_manifest

PASSWORD = "cosign-integration-pw-7d1e"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Key A from the CLI's ``cosign-keygen`` (as a user without cosign makes it), key B from the module."""
    directory = tmp_path_factory.mktemp("keys")
    home = tmp_path_factory.mktemp("home")
    result = run_resource_argv(
        ["cosign-keygen", str(directory)], base_env(home, {"COSIGN_PASSWORD": PASSWORD})
    )
    assert result.returncode == 0, result.stderr
    pair_b = generate_key_pair(PASSWORD)
    a_private, a_public = (directory / "cosign.key").read_text(), (directory / "cosign.pub").read_text()
    return {
        "a": {
            "private": a_private,
            "public": a_public,
            "key": load_private_key(a_private, PASSWORD, where="a"),
        },
        "b": {
            "private": pair_b.private_pem.decode(),
            "public": pair_b.public_pem.decode(),
            "key": load_private_key(pair_b.private_pem, PASSWORD, where="b"),
        },
    }


def run_resource_argv(argv: list[str], env: dict[str, str]) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def fingerprint(public_pem: str) -> str:
    return load_public_key(public_pem, where="test").fingerprint


def source(server: RegistryServer, repo: str, **cosign: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"repository": server.repository(repo)}
    if cosign:
        value["cosign"] = cosign
    if server.username is not None:
        value["username"], value["password"] = server.username, server.password
    return value


def push(
    tmp_path: Path, server: RegistryServer, repo: str, tag: str, name: str, env: dict[str, str], **cosign: Any
):
    """``out`` of a one-file image tagged ``tag``; returns the JSON answer."""
    src = tmp_path / f"src-{tag}-{name}"
    write_docker_archive(build_image([{"etc/name": name.encode()}]), src / "image.tar", [f"app:{tag}"])
    request = {"source": {**source(server, repo, **cosign), "tag": tag}, "params": {"image": "image.tar"}}
    return run_resource("out", request, str(src), env=env).json


def signing(keys: dict[str, Any], name: str = "a") -> dict[str, Any]:
    return {"private_key": keys[name]["private"], "password": PASSWORD}


def verifying(keys: dict[str, Any], *names: str) -> dict[str, Any]:
    return {"public_keys": [keys[name]["public"] for name in names]}


def client_for(server: RegistryServer, repo: str) -> RegistryClient:
    options = ConnectOptions(username=server.username or "", password=server.password or "")
    return RegistryClient.connect(
        parse_repository(server.repository(repo)), options, "push,pull", env={"TEST": "true"}
    )


def store_signature(server: RegistryServer, repo: str, digest: str, payload: bytes, signature: bytes) -> None:
    """Append a layer with ``payload`` and ``signature`` to ``digest``'s signature tag, as any signer could."""
    with client_for(server, repo) as client:
        built = append_signature(
            read_signature_manifest(client, digest), payload, base64.b64encode(signature).decode()
        )
        for blob_digest, data in built.blobs.items():
            client.upload_blob(blob_digest, len(data), functools.partial(io.BytesIO, data))
        client.put_manifest(signature_tag(digest), built.manifest, built.media_type)


def sig_layers(server: RegistryServer, repo: str, digest: str) -> list[dict[str, Any]]:
    with client_for(server, repo) as client:
        return json.loads(client.get_manifest(signature_tag(digest)).body)["layers"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return base_env(home)


def check(server, repo, env, tag=None, ok=True, **cosign):
    src = source(server, repo, **cosign)
    if tag:
        src["tag"] = tag
    return run_resource("check", {"source": src}, env=env, ok=ok)


def get(server, repo, version, dest, env, ok=True, **cosign):
    dest.mkdir(exist_ok=True)
    return run_resource(
        "in", {"source": source(server, repo, **cosign), "version": version}, str(dest), env=env, ok=ok
    )


# --- out signs, check and in verify ------------------------------------------------------------


def test_out_signs_and_check_and_in_verify(registry, repo_name, keys, tmp_path, env):
    answer = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys), **verifying(keys, "a"))
    digest = answer["version"]["digest"]
    assert answer["metadata"] == [
        {"name": "repository", "value": registry.repository(repo_name)},
        {"name": "tags", "value": "1.0"},
        {"name": "cosign_signature_tag", "value": signature_tag(digest)},
    ]

    found = check(registry, repo_name, env, tag="1.0", **verifying(keys, "a"))
    assert found.json == [{"tag": "1.0", "digest": digest}]

    result = get(
        registry, repo_name, {"tag": "1.0", "digest": digest}, tmp_path / "dest", env, **verifying(keys, "a")
    )
    assert {"name": "cosign_key_fingerprint", "value": fingerprint(keys["a"]["public"])} in result.json[
        "metadata"
    ]
    assert (tmp_path / "dest" / "rootfs" / "etc" / "name").read_text() == "one"


def test_signature_is_what_cosign_writes(registry, repo_name, keys, tmp_path, env):
    digest = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys))["version"]["digest"]
    [layer] = sig_layers(registry, repo_name, digest)
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    with client_for(registry, repo_name) as client:
        payload = client.fetch_blob(layer["digest"], layer["size"])
    assert payload == build_payload(f"{registry.host}/{repo_name}", digest)
    public = load_public_key(keys["a"]["public"], where="a")
    assert public.verify(
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload
    )


def test_resigning_appends_a_signature(registry, repo_name, keys, tmp_path, env):
    first = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys, "a"))["version"]["digest"]
    second = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys, "b"))["version"]["digest"]
    assert first == second
    assert len(sig_layers(registry, repo_name, first)) == 2
    for name in ("a", "b"):
        found = check(registry, repo_name, env, tag="1.0", **verifying(keys, name))
        assert found.json == [{"tag": "1.0", "digest": first}]


def test_two_signatures_by_two_keys_either_key_verifies(registry, repo_name, keys, tmp_path, env):
    digest = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys, "a"))["version"]["digest"]
    payload = build_payload(f"{registry.host}/{repo_name}", digest)
    store_signature(registry, repo_name, digest, payload, keys["b"]["key"].sign(payload))
    for name in ("a", "b"):
        result = get(
            registry,
            repo_name,
            {"tag": "1.0", "digest": digest},
            tmp_path / f"dest-{name}",
            env,
            **verifying(keys, name),
        )
        assert {"name": "cosign_key_fingerprint", "value": fingerprint(keys[name]["public"])} in result.json[
            "metadata"
        ]


# --- what does not verify ----------------------------------------------------------------------------


def unsigned_digest(tmp_path, registry, repo_name, env) -> str:
    return push(tmp_path, registry, repo_name, "1.0", "one", env)["version"]["digest"]


def refused(registry, repo_name, digest, tmp_path, env, keys, reason: str) -> None:
    """check skips the digest with one INFO line, and in fails with one line, writing nothing."""
    found = check(registry, repo_name, env, tag="1.0", **verifying(keys, "a"))
    assert found.json == []
    skipped = [line for line in found.stderr.splitlines() if "skipping" in line]
    assert skipped == [f"INFO skipping 1.0 ({digest}): {reason}"]
    dest = tmp_path / "refused"
    result = get(
        registry, repo_name, {"tag": "1.0", "digest": digest}, dest, env, ok=False, **verifying(keys, "a")
    )
    assert result.last_line == (
        f"ERROR download failed: signature verification failed for {registry.host}/{repo_name}@{digest}: {reason}"
    )
    assert list(dest.iterdir()) == []


def test_missing_signature(registry, repo_name, keys, tmp_path, env):
    digest = unsigned_digest(tmp_path, registry, repo_name, env)
    refused(
        registry,
        repo_name,
        digest,
        tmp_path,
        env,
        keys,
        f"no signature: the tag {signature_tag(digest)} does not exist",
    )


def test_signature_by_another_key(registry, repo_name, keys, tmp_path, env):
    digest = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys, "b"))["version"]["digest"]
    refused(
        registry,
        repo_name,
        digest,
        tmp_path,
        env,
        keys,
        f"signature tag {signature_tag(digest)}: signature 1 does not verify with any key in source.cosign.public_keys",
    )


def test_tampered_payload(registry, repo_name, keys, tmp_path, env):
    digest = unsigned_digest(tmp_path, registry, repo_name, env)
    payload = build_payload(f"{registry.host}/{repo_name}", digest)
    signature = keys["a"]["key"].sign(payload)
    store_signature(
        registry, repo_name, digest, payload.replace(b'"optional":null', b'"optional":{}'), signature
    )
    refused(
        registry,
        repo_name,
        digest,
        tmp_path,
        env,
        keys,
        f"signature tag {signature_tag(digest)}: signature 1 does not verify with any key in source.cosign.public_keys",
    )


def test_payload_naming_another_digest(registry, repo_name, keys, tmp_path, env):
    digest = unsigned_digest(tmp_path, registry, repo_name, env)
    other = "sha256:" + hashlib.sha256(b"other").hexdigest()
    payload = build_payload(f"{registry.host}/{repo_name}", other)
    store_signature(registry, repo_name, digest, payload, keys["a"]["key"].sign(payload))
    refused(
        registry,
        repo_name,
        digest,
        tmp_path,
        env,
        keys,
        f"signature tag {signature_tag(digest)}: signature 1 (key {fingerprint(keys['a']['public'])}) "
        f"is for digest {other}, not this one",
    )


def test_payload_naming_another_repository(registry, repo_name, keys, tmp_path, env):
    digest = unsigned_digest(tmp_path, registry, repo_name, env)
    payload = build_payload(f"{registry.host}/test/elsewhere", digest)
    store_signature(registry, repo_name, digest, payload, keys["a"]["key"].sign(payload))
    refused(
        registry,
        repo_name,
        digest,
        tmp_path,
        env,
        keys,
        f"signature tag {signature_tag(digest)}: signature 1 (key {fingerprint(keys['a']['public'])}) "
        f"is for repository {registry.host}/test/elsewhere, not {registry.host}/{repo_name}",
    )


# --- every check mode ----------------------------------------------------------------------------------


def test_semver_and_regex_modes_report_only_signed_versions(registry, repo_name, keys, tmp_path, env):
    signed = {}
    for tag in ("1.0.0", "1.1.0", "1.2.0"):
        cosign = signing(keys) if tag != "1.1.0" else {}
        signed[tag] = push(tmp_path, registry, repo_name, tag, tag, env, **cosign)["version"]["digest"]
    expected = [{"tag": t, "digest": signed[t]} for t in ("1.0.0", "1.2.0")]
    semver = check(registry, repo_name, env, **verifying(keys, "a"))
    assert semver.json == expected
    assert [line for line in semver.stderr.splitlines() if "skipping" in line] == [
        f"INFO skipping 1.1.0 ({signed['1.1.0']}): no signature: the tag {signature_tag(signed['1.1.0'])} does not exist"
    ]
    src = {**source(registry, repo_name, **verifying(keys, "a")), "tag_regex": r"^1\.\d\.0$"}
    regex = run_resource("check", {"source": src}, env=env)
    assert sorted(regex.json, key=lambda v: v["tag"]) == expected


# --- multi-arch ----------------------------------------------------------------------------------------


def test_index_push_signs_the_index_and_each_child(registry, repo_name, keys, tmp_path, env):
    images = [
        build_image([{"arch": arch.encode()}], ImageConfig(architecture=arch)) for arch in ("amd64", "arm64")
    ]
    index = build_index(images)
    write_oci_layout(index, tmp_path / "src" / "layout")
    request = {
        "source": {**source(registry, repo_name, **signing(keys), **verifying(keys, "a")), "tag": "multi"},
        "params": {"image": "layout"},
    }
    answer = run_resource("out", request, str(tmp_path / "src"), env=env).json
    digest = answer["version"]["digest"]
    with client_for(registry, repo_name) as client:
        children = [item["digest"] for item in json.loads(client.get_manifest(digest).body)["manifests"]]
    for signed_digest in (digest, *children):
        assert len(sig_layers(registry, repo_name, signed_digest)) == 1
    in_source = {
        **source(registry, repo_name, **verifying(keys, "a")),
        "platform": {"architecture": "arm64", "os": "linux"},
    }
    (tmp_path / "dest").mkdir()
    result = run_resource(
        "in",
        {"source": in_source, "version": {"tag": "multi", "digest": digest}},
        str(tmp_path / "dest"),
        env=env,
    )
    assert {"name": "cosign_key_fingerprint", "value": fingerprint(keys["a"]["public"])} in result.json[
        "metadata"
    ]
    assert (tmp_path / "dest" / "rootfs" / "arch").read_text() == "arm64"


# --- secrets, and bad keys -----------------------------------------------------------------------------


def test_password_and_private_key_never_shown_with_debug(registry, repo_name, keys, tmp_path, env):
    src = tmp_path / "src"
    write_docker_archive(build_image([{"a": b"a"}]), src / "image.tar", ["app:1.0"])
    cosign = {**signing(keys), **verifying(keys, "a")}
    request = {
        "source": {**source(registry, repo_name, **cosign), "tag": "1.0", "debug": True},
        "params": {"image": "image.tar"},
    }
    result = run_resource("out", request, str(src), env=env)
    shown = result.stdout + result.stderr
    assert PASSWORD not in shown
    for line in keys["a"]["private"].splitlines()[1:-1]:
        assert line not in shown


def test_wrong_password_fails_before_anything_is_pushed(registry, repo_name, keys, tmp_path, env):
    src = tmp_path / "src"
    write_docker_archive(build_image([{"a": b"a"}]), src / "image.tar", ["app:1.0"])
    cosign = {"private_key": keys["a"]["private"], "password": "not-the-password-42"}
    request = {
        "source": {**source(registry, repo_name, **cosign), "tag": "1.0"},
        "params": {"image": "image.tar"},
    }
    result = run_resource("out", request, str(src), env=env, ok=False)
    assert result.last_line == (
        "ERROR source.cosign.private_key: decryption failed: wrong password (source.cosign.password) or a damaged key"
    )
    assert check(registry, repo_name, env, tag="1.0").json == []


# --- skopeo carries the signature tag -----------------------------------------------------------------


def inspect_args(server: RegistryServer) -> list[str]:
    args = ["--tls-verify=false"]
    if server.username is not None:
        args += ["--creds", f"{server.username}:{server.password}"]
    return args


def test_skopeo_reads_and_copies_the_signature_tag(registry, repo_name, keys, tmp_path, env):
    digest = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys))["version"]["digest"]
    tag = signature_tag(digest)
    source_ref = f"docker://{registry.repository(repo_name)}:{tag}"
    raw = run_tool("skopeo", "inspect", "--raw", *inspect_args(registry), source_ref).stdout.encode()
    assert json.loads(raw)["layers"][0]["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    copy = f"{repo_name}-copy"
    skopeo_copy(
        source_ref,
        f"docker://{registry.repository(copy)}:{tag}",
        *registry.skopeo_args("src"),
        *registry.skopeo_args("dest"),
    )
    copied = run_tool(
        "skopeo", "inspect", "--raw", *inspect_args(registry), f"docker://{registry.repository(copy)}:{tag}"
    )
    assert copied.stdout.encode() == raw
    # The signature names its repository: in the copy's repository (with the image copied too) it
    # does not verify, as it must not.
    skopeo_copy(
        f"docker://{registry.repository(repo_name)}@{digest}",
        f"docker://{registry.repository(copy)}:1.0",
        *registry.skopeo_args("src"),
        *registry.skopeo_args("dest"),
    )
    result = get(
        registry,
        copy,
        {"tag": "1.0", "digest": digest},
        tmp_path / "dest",
        env,
        ok=False,
        **verifying(keys, "a"),
    )
    assert result.last_line == (
        f"ERROR download failed: signature verification failed for {registry.host}/{copy}@{digest}: signature tag {tag}: "
        f"signature 1 (key {fingerprint(keys['a']['public'])}) is for repository {registry.host}/{repo_name}, "
        f"not {registry.host}/{copy}"
    )


def test_skopeo_copies_the_signature_tag_into_an_oci_layout(registry, repo_name, keys, tmp_path, env):
    digest = push(tmp_path, registry, repo_name, "1.0", "one", env, **signing(keys))["version"]["digest"]
    tag = signature_tag(digest)
    layout = tmp_path / "layout"
    skopeo_copy(
        f"docker://{registry.repository(repo_name)}:{tag}", f"oci:{layout}:sig", *registry.skopeo_args("src")
    )
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_text())
    layer = manifest["layers"][0]
    payload = (layout / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
    public = load_public_key(keys["a"]["public"], where="a")
    assert public.verify(
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload
    )
    assert os.path.getsize(layout / "blobs" / "sha256" / layer["digest"].split(":")[1]) == layer["size"]
