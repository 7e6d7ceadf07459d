"""cosign-keygen: the key pair it writes, where the password comes from, and what it refuses."""

import base64
import json
import re
import stat

import pytest

from registry_image_resource.errors import InputError, RequestError
from registry_image_resource.trust.cosign import load_private_key, load_public_key
from registry_image_resource.trust.cosign.keygen import keygen


def exactly(text):
    return f"^{re.escape(text)}$"


def no_prompt(_text):
    raise AssertionError("prompted although COSIGN_PASSWORD is set")


def test_writes_an_encrypted_cosign_key_and_its_public_key(tmp_path):
    lines = keygen([str(tmp_path)], {"COSIGN_PASSWORD": "pw"}, no_prompt)
    assert lines == [
        f"Private key written to {tmp_path}/cosign.key",
        f"Public key written to {tmp_path}/cosign.pub",
    ]
    private = load_private_key((tmp_path / "cosign.key").read_bytes(), "pw", where="cosign.key")
    public = load_public_key((tmp_path / "cosign.pub").read_bytes(), where="cosign.pub")
    assert private.public.fingerprint == public.fingerprint


def test_private_key_has_the_cosign_label_and_n_32768(tmp_path):
    keygen([str(tmp_path)], {"COSIGN_PASSWORD": "pw"}, no_prompt)
    lines = (tmp_path / "cosign.key").read_text().splitlines()
    assert lines[0] == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"
    assert json.loads(base64.b64decode("".join(lines[1:-1])))["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}


def test_private_key_is_readable_by_its_owner_only(tmp_path):
    keygen([str(tmp_path)], {"COSIGN_PASSWORD": "pw"}, no_prompt)
    assert stat.S_IMODE((tmp_path / "cosign.key").stat().st_mode) == 0o600


def test_empty_cosign_password_is_used_without_prompting(tmp_path):
    keygen([str(tmp_path)], {"COSIGN_PASSWORD": ""}, no_prompt)
    load_private_key((tmp_path / "cosign.key").read_bytes(), "", where="cosign.key")


def test_password_from_the_prompt_asked_twice(tmp_path):
    asked = []

    def prompt(text):
        asked.append(text)
        return "typed"

    keygen([str(tmp_path)], {}, prompt)
    assert asked == ["Enter password for private key: ", "Enter password for private key again: "]
    load_private_key((tmp_path / "cosign.key").read_bytes(), "typed", where="cosign.key")


def test_prompted_passwords_that_differ(tmp_path):
    answers = iter(["one", "two"])
    with pytest.raises(RequestError, match=exactly("the passwords do not match")):
        keygen([str(tmp_path)], {}, lambda _text: next(answers))
    assert list(tmp_path.iterdir()) == []


def test_no_password_and_no_terminal(tmp_path):
    with pytest.raises(
        RequestError, match=exactly("no password: set COSIGN_PASSWORD, or run cosign-keygen in a terminal")
    ):
        keygen([str(tmp_path)], {}, None)


def test_never_overwrites_a_key(tmp_path):
    (tmp_path / "cosign.pub").write_text("mine")
    with pytest.raises(
        InputError, match=exactly(f"cosign-keygen: {tmp_path}/cosign.pub already exists; not overwriting it")
    ):
        keygen([str(tmp_path)], {"COSIGN_PASSWORD": "pw"}, no_prompt)
    assert not (tmp_path / "cosign.key").exists()
    assert (tmp_path / "cosign.pub").read_text() == "mine"


def test_directory_must_exist(tmp_path):
    with pytest.raises(InputError, match=exactly(f"cosign-keygen: {tmp_path}/missing is not a directory")):
        keygen([str(tmp_path / "missing")], {"COSIGN_PASSWORD": "pw"}, no_prompt)


@pytest.mark.parametrize("args", [[], ["a", "b"]])
def test_usage(args):
    with pytest.raises(RequestError, match=exactly("usage: registry-image-resource cosign-keygen DIR")):
        keygen(args, {"COSIGN_PASSWORD": "pw"}, no_prompt)
