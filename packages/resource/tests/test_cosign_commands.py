"""``source.cosign`` through the commands: decoding, check's filter, in's gate, out's signing, keygen.

Against the fake registry, with the CLI run as Concourse runs it where stderr matters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fake_registry import build_image, build_index, cosign_sign, write_docker_archive, write_oci_layout
from registry_image_resource.commands.check.request import decode_check
from registry_image_resource.errors import RequestError
from registry_image_resource.protocol.optional_models import Cosign
from registry_image_resource.protocol.source import secrets_of
from registry_image_resource.trust.cosign import encrypt_private_key, load_public_key

PASSWORD = "cosign-unit-password-5c"


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def encrypted(key) -> str:
    return encrypt_private_key(key, PASSWORD).decode()


def run(command: str, request: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", command, *args],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TEST": "true", **(env or {})},
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.rstrip("\n").splitlines()[-1]


def sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


# --- decoding ------------------------------------------------------------------------------------


def decoded(cosign: object) -> Cosign | None:
    return decode_check(
        json.dumps({"source": {"repository": "r/a", "cosign": cosign}}).encode()
    ).source.cosign


def decode_error(cosign: object) -> str:
    with pytest.raises(RequestError) as caught:
        decoded(cosign)
    return str(caught.value)


def test_cosign_fields_decode(key, encrypted):
    pem = public_pem(key)
    assert decoded({"private_key": encrypted, "password": "pw", "public_keys": [pem]}) == Cosign(
        encrypted, "pw", (pem,)
    )


def test_cosign_null_is_none():
    assert decoded(None) is None


def test_empty_cosign_says_what_to_set():
    assert (
        decode_error({})
        == "source.cosign: set private_key (to sign in out) or public_keys (to verify in check and in)"
    )


def test_password_without_private_key():
    assert (
        decode_error({"password": "pw"})
        == "source.cosign.password is set but source.cosign.private_key is not"
    )


def test_private_key_that_is_no_pem(key):
    assert (
        decode_error({"private_key": "cosign.key"}) == "source.cosign.private_key: no PEM private key found"
    )


def test_public_key_that_is_no_pem(key):
    pem = public_pem(key)
    assert (
        decode_error({"public_keys": [pem, "cosign.pub"]})
        == "source.cosign.public_keys[1]: no PEM public key found"
    )


def test_unknown_cosign_field():
    assert decode_error({"public_key": "x"}) == 'invalid payload: unknown field "source.cosign.public_key"'


def test_public_keys_must_be_a_list():
    assert (
        decode_error({"public_keys": "x"})
        == "invalid payload: source.cosign.public_keys must be an array of strings, got string"
    )


def test_secrets_include_the_password_and_each_line_of_the_private_key(encrypted):
    source = decode_check(
        json.dumps(
            {"source": {"repository": "r/a", "cosign": {"private_key": encrypted, "password": PASSWORD}}}
        ).encode()
    ).source
    secrets = secrets_of(source)
    assert PASSWORD in secrets
    assert encrypted in secrets
    body_lines = encrypted.splitlines()[1:-1]
    assert all(line in secrets for line in body_lines if len(line) >= 16)


def test_repr_of_the_source_shows_no_cosign_secret(encrypted):
    source = decoded({"private_key": encrypted, "password": PASSWORD})
    assert PASSWORD not in repr(source)
    assert encrypted.splitlines()[1] not in repr(source)


# --- check -----------------------------------------------------------------------------------------


def check_source(registry, key, **extra) -> dict:
    return {"repository": f"{registry.host}/team/app", "cosign": {"public_keys": [public_pem(key)]}, **extra}


def test_check_reports_signed_and_skips_unsigned_with_one_info_line(fake_registry, key):
    one = fake_registry.push_image("team/app", "1.0.0", [{"v": b"1"}]).digest
    two = fake_registry.push_image("team/app", "1.1.0", [{"v": b"2"}]).digest
    cosign_sign(fake_registry, "team/app", "1.0.0", key)
    result = run("check", {"source": check_source(fake_registry, key)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"tag": "1.0.0", "digest": one}]
    assert result.stderr.splitlines() == [
        f"INFO skipping 1.1.0 ({two}): no signature: the tag {sig_tag(two)} does not exist"
    ]


def test_check_in_tag_mode_skips_a_badly_signed_digest(fake_registry, key):
    digest = fake_registry.push_image("team/app", "latest").digest
    cosign_sign(fake_registry, "team/app", "latest", key, fault="tampered-payload")
    result = run("check", {"source": check_source(fake_registry, key, tag="latest")})
    assert json.loads(result.stdout) == []
    assert result.stderr.splitlines() == [
        f"INFO skipping latest ({digest}): signature tag {sig_tag(digest)}: "
        "signature 1 does not verify with any key in source.cosign.public_keys"
    ]


def test_check_in_regex_mode_looks_signatures_up_for_every_candidate(fake_registry, key):
    digests = [
        fake_registry.push_image("team/app", f"build-{i}", [{"v": str(i).encode()}]).digest for i in range(3)
    ]
    cosign_sign(fake_registry, "team/app", "build-1", key)
    result = run("check", {"source": check_source(fake_registry, key, tag_regex="^build-")})
    assert json.loads(result.stdout) == [{"tag": "build-1", "digest": digests[1]}]
    sig_gets = sorted(line for line in fake_registry.requests.summary() if ".sig " in line)
    assert sig_gets == sorted(
        [f"GET /v2/team/app/manifests/{sig_tag(d)} 404" for d in (digests[0], digests[2])]
        + [f"GET /v2/team/app/manifests/{sig_tag(digests[1])} 200"]
    )


def test_check_with_a_bad_public_key_fails_before_any_request(fake_registry):
    p384 = public_pem(ec.generate_private_key(ec.SECP384R1()))
    source = {"repository": f"{fake_registry.host}/team/app", "cosign": {"public_keys": [p384]}}
    result = run("check", {"source": source})
    assert (result.returncode, result.stdout) == (1, "")
    assert last_line(result) == (
        "ERROR source.cosign.public_keys[0]: the public key is on curve secp384r1: "
        "only ECDSA P-256 (secp256r1) is supported"
    )
    assert fake_registry.requests.summary() == []


def test_check_with_only_a_private_key_reports_everything(fake_registry, encrypted):
    digest = fake_registry.push_image("team/app", "1.0.0").digest
    source = {
        "repository": f"{fake_registry.host}/team/app",
        "cosign": {"private_key": encrypted, "password": PASSWORD},
    }
    result = run("check", {"source": source})
    assert json.loads(result.stdout) == [{"tag": "1.0.0", "digest": digest}]


def test_check_without_cosign_loads_no_cosign_or_crypto_module(fake_registry):
    fake_registry.push_image("team/app", "1.0.0")
    request = json.dumps({"source": {"repository": f"{fake_registry.host}/team/app"}})
    code = (
        "import io, sys; sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()));"
        "from registry_image_resource.cli import main; assert main(['check']) == 0;"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('cryptography', 'nacl'))}"
        " | {m for m in sys.modules if m.startswith('registry_image_resource.trust')}), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, request],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TEST": "true"},
    )
    assert result.stderr == "[]\n"


# --- in --------------------------------------------------------------------------------------------


def test_in_records_the_fingerprint_of_the_key_that_verified(fake_registry, key, other_key, tmp_path):
    digest = fake_registry.push_image("team/app", "1.0.0").digest
    cosign_sign(fake_registry, "team/app", "1.0.0", key)
    source = {
        "repository": f"{fake_registry.host}/team/app",
        "cosign": {"public_keys": [public_pem(other_key), public_pem(key)]},
    }
    result = run("in", {"source": source, "version": {"tag": "1.0.0", "digest": digest}}, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metadata"] == [
        {"name": "repository", "value": f"{fake_registry.host}/team/app"},
        {"name": "tag", "value": "1.0.0"},
        {"name": "cosign_key_fingerprint", "value": load_public_key(public_pem(key), where="k").fingerprint},
    ]


def test_in_of_an_unsigned_digest_writes_nothing_and_fetches_no_image(fake_registry, key, tmp_path):
    digest = fake_registry.push_image("team/app", "1.0.0").digest
    source = check_source(fake_registry, key)
    result = run("in", {"source": source, "version": {"tag": "1.0.0", "digest": digest}}, str(tmp_path))
    assert (result.returncode, result.stdout) == (1, "")
    assert last_line(result) == (
        f"ERROR download failed: signature verification failed for {fake_registry.host}/team/app@{digest}: "
        f"no signature: the tag {sig_tag(digest)} does not exist"
    )
    assert list(tmp_path.iterdir()) == []
    assert [line for line in fake_registry.requests.summary() if digest in line or "/blobs/" in line] == []


def test_in_with_a_platform_verifies_the_index_digest(fake_registry, key, tmp_path):
    index_digest = fake_registry.push_index("team/app", "multi").digest
    cosign_sign(fake_registry, "team/app", "multi", key)
    source = {**check_source(fake_registry, key), "platform": {"architecture": "arm64", "os": "linux"}}
    result = run("in", {"source": source, "version": {"tag": "multi", "digest": index_digest}}, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rootfs" / "platform.txt").read_text() == "linux/arm64/v8\n"


# --- out -------------------------------------------------------------------------------------------


def out_request(registry, cosign: dict, **extra) -> dict:
    return {
        "source": {"repository": f"{registry.host}/team/app", "tag": "1.0", "cosign": cosign, **extra},
        "params": {"image": "image.tar"},
    }


@pytest.fixture
def src(tmp_path) -> Path:
    write_docker_archive(build_image([{"a": b"a"}]), tmp_path / "image.tar", ["app:1.0"])
    return tmp_path


def test_out_signs_and_names_the_signature_tag(fake_registry, key, encrypted, src):
    result = run(
        "out", out_request(fake_registry, {"private_key": encrypted, "password": PASSWORD}), str(src)
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    digest = answer["version"]["digest"]
    assert answer["metadata"][-1] == {"name": "cosign_signature_tag", "value": sig_tag(digest)}
    [layer] = fake_registry.manifest("team/app", sig_tag(digest)).json()["layers"]
    assert json.loads(fake_registry.blob("team/app", layer["digest"]))["critical"]["image"] == {
        "docker-manifest-digest": digest
    }


def test_out_of_an_index_signs_the_index_and_each_child(fake_registry, encrypted, tmp_path):
    index = build_index([build_image([{"x": arch.encode()}]) for arch in ("a", "b")])
    write_oci_layout(index, tmp_path / "layout")
    request = out_request(fake_registry, {"private_key": encrypted, "password": PASSWORD})
    request["params"] = {"image": "layout"}
    result = run("out", request, str(tmp_path))
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)["version"]["digest"]
    children = [item["digest"] for item in fake_registry.manifest("team/app", top).json()["manifests"]]
    assert sorted(t for t in fake_registry.tags("team/app") if t.endswith(".sig")) == sorted(
        sig_tag(d) for d in [top, *children]
    )


def test_out_with_a_wrong_password_sends_no_request(fake_registry, encrypted, src):
    result = run(
        "out",
        out_request(fake_registry, {"private_key": encrypted, "password": "not-the-password-7"}),
        str(src),
    )
    assert last_line(result) == (
        "ERROR source.cosign.private_key: decryption failed: wrong password (source.cosign.password) or a damaged key"
    )
    assert fake_registry.requests.summary() == []


def test_out_whose_signature_push_fails_says_the_image_was_pushed(fake_registry, encrypted, src):
    fake_registry.faults.status(403, r"/manifests/sha256-[0-9a-f]{64}\.sig$", method="PUT", times=None)
    result = run(
        "out", out_request(fake_registry, {"private_key": encrypted, "password": PASSWORD}), str(src)
    )
    assert (result.returncode, result.stdout) == (1, "")
    digest = fake_registry.manifest("team/app", "1.0").digest
    assert last_line(result).startswith(
        f"ERROR image pushed as {digest}, but not signed: PUT {fake_registry.url}/v2/team/app/manifests/{sig_tag(digest)}: 403 Forbidden"
    )


def test_out_checks_its_signature_against_public_keys(fake_registry, encrypted, other_key, src):
    cosign = {"private_key": encrypted, "password": PASSWORD, "public_keys": [public_pem(other_key)]}
    result = run("out", out_request(fake_registry, cosign), str(src))
    digest = fake_registry.manifest("team/app", "1.0").digest
    assert last_line(result) == (
        f"ERROR image pushed as {digest} and signed, but the signature does not verify with source.cosign.public_keys: "
        f"signature tag {sig_tag(digest)}: signature 1 does not verify with any key in source.cosign.public_keys"
    )


def test_out_with_debug_never_shows_the_password_or_key(fake_registry, encrypted, src):
    result = run(
        "out",
        out_request(fake_registry, {"private_key": encrypted, "password": PASSWORD}, debug=True),
        str(src),
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    shown = result.stdout + result.stderr
    assert PASSWORD not in shown
    assert all(line not in shown for line in encrypted.splitlines()[1:-1])


# --- cosign-keygen ---------------------------------------------------------------------------------


def keygen(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", "cosign-keygen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_keygen_command_writes_the_pair(tmp_path):
    result = keygen(str(tmp_path), env={"COSIGN_PASSWORD": PASSWORD})
    assert (result.returncode, result.stderr) == (0, "")
    assert (
        result.stdout
        == f"Private key written to {tmp_path}/cosign.key\nPublic key written to {tmp_path}/cosign.pub\n"
    )


def test_keygen_without_password_or_terminal_fails_with_one_line(tmp_path):
    result = keygen(str(tmp_path), env={})
    assert (result.returncode, result.stdout) == (1, "")
    assert last_line(result) == "ERROR no password: set COSIGN_PASSWORD, or run cosign-keygen in a terminal"
