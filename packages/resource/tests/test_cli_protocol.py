"""The process boundary (SPEC A.1, B.1.1): exit codes, nothing on stdout on failure, the error last on stderr."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_image_resource import cli
from registry_image_resource.cli import one_line
from registry_image_resource.errors import RegistryError
from registry_image_resource.log import LOGGER_NAME
from registry_image_resource.protocol.go_json import encode

DIGEST = "sha256:" + "a" * 64


def run(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "registry_image_resource", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def last_stderr_line(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode().rstrip("\n").splitlines()[-1]


def test_unknown_source_field_fails_naming_it() -> None:
    result = run("check", stdin=b'{"source": {"repository": "a", "bogus": 1}}')
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == 'ERROR invalid payload: unknown field "source.bogus"'


def test_empty_stdin_fails_clearly() -> None:
    result = run("check", stdin=b"")
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == "ERROR invalid payload: empty request on stdin"


def test_malformed_json_fails_clearly() -> None:
    result = run("check", stdin=b'{"source": ')
    assert (result.returncode, result.stdout) == (1, b"")
    assert (
        last_stderr_line(result)
        == "ERROR invalid payload: malformed JSON at line 1 column 12: expecting value"
    )


@pytest.mark.parametrize("command", ["in", "out"])
def test_missing_destination_is_checked_after_decoding(command: str) -> None:
    request = {"source": {"repository": "example.com/foo"}, "version": {"tag": "1", "digest": DIGEST}}
    if command == "out":
        del request["version"]
    result = run(command, stdin=json.dumps(request).encode())
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == "ERROR destination path not specified"


def test_decoding_errors_come_before_the_destination_check() -> None:
    result = run("in", stdin=b'{"source": {"bogus": true}}')
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == 'ERROR invalid payload: unknown field "source.bogus"'


def test_no_command_prints_usage() -> None:
    result = run(stdin=b"")
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == "ERROR usage: registry-image-resource check | in DEST | out SRC"


def wait_with_stdin_open(*args: str) -> tuple[int, bytes, bytes]:
    """Run the CLI with a stdin pipe that is never written to nor closed."""
    with subprocess.Popen(
        [sys.executable, "-m", "registry_image_resource", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            returncode = process.wait(timeout=60)
        finally:
            process.kill()
            process.stdin.close()
        return returncode, process.stdout.read(), process.stderr.read()


def test_unknown_command_fails_without_reading_stdin() -> None:
    returncode, stdout, stderr = wait_with_stdin_open("deploy")
    assert (returncode, stdout) == (1, b"")
    assert stderr.decode().splitlines()[-1] == (
        "ERROR unknown command 'deploy'; usage: registry-image-resource check | in DEST | out SRC"
    )


SECRETS = {
    "password": "hunter2-password",
    "aws_secret_access_key": "aws-secret-value",
    "aws_session_token": "aws-session-value",
}


def test_secrets_never_reach_stderr_on_error(tmp_path: Path) -> None:
    # a bad repository makes every command fail after decoding, with debug on
    request = {"source": {"repository": "Bad Name", "username": "user", "debug": True, **SECRETS}}
    result = run("out", str(tmp_path), stdin=json.dumps(request).encode())
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr
    for secret in SECRETS.values():
        assert secret.encode() not in result.stderr


def test_secrets_never_reach_stderr_on_a_decoding_error() -> None:
    request = {"source": {"repository": "foo", **SECRETS, "insecure": "yes"}}
    result = run("check", stdin=json.dumps(request).encode())
    assert (result.returncode, result.stdout) == (1, b"")
    assert last_stderr_line(result) == "ERROR invalid payload: source.insecure must be a boolean, got string"
    for secret in SECRETS.values():
        assert secret.encode() not in result.stderr


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run ``cli.main`` in this process; undo the log handlers it installs."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{}")))
    yield
    for name in (LOGGER_NAME, None):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if type(h).__module__ == "registry_image_resource.log"]:
            logger.removeHandler(handler)
    ours = logging.getLogger(LOGGER_NAME)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True


@pytest.mark.usefixtures("in_process")
def test_a_secret_in_an_error_message_is_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def leaky(command: str, args: list[str], raw: bytes, secrets: list[str]) -> object:
        secrets.append("hunter2-password")
        raise RegistryError("401 for user:hunter2-password\non two lines")

    monkeypatch.setattr(cli, "_run", leaky)
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == "ERROR 401 for user:*** on two lines"


@pytest.mark.usefixtures("in_process")
def test_success_prints_exactly_one_document_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run", lambda *args: [{"tag": "é<1>", "digest": DIGEST}])
    assert cli.main(["check"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f'[{{"tag":"é\\u003c1\\u003e","digest":"{DIGEST}"}}]\n'
    assert captured.err == ""


@pytest.mark.usefixtures("in_process")
def test_an_unexpected_exception_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(command: str, args: list[str], raw: bytes, secrets: list[str]) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(cli, "_run", broken)
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == "ERROR internal error: KeyError: 'boom'"


_BROKEN_CHECK = """
import sys
from registry_image_resource import cli
from registry_image_resource.commands import check

def broken(request):
    raise KeyError("bug near " + request.source.password)

check.run = broken
sys.exit(cli.main(["check"]))
"""


def test_with_debug_an_unexpected_exception_logs_its_masked_traceback_first() -> None:
    request = {"source": {"repository": "a", "username": "u", "password": "s3cret", "debug": True}}
    result = subprocess.run(
        [sys.executable, "-c", _BROKEN_CHECK],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    lines = result.stderr.decode().splitlines()
    assert (result.returncode, result.stdout) == (1, b"")
    assert lines[:2] == ["DEBUG internal error", "Traceback (most recent call last):"]
    assert lines[-2:] == ["KeyError: 'bug near ***'", "ERROR internal error: KeyError: 'bug near ***'"]
    assert "s3cret" not in result.stderr.decode()


@pytest.mark.usefixtures("in_process")
def test_a_document_that_cannot_be_encoded_prints_nothing_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run", lambda *args: {"value": object()})
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err.splitlines()[-1]
        == "ERROR internal error: TypeError: Object of type object is not JSON serializable"
    )


@pytest.mark.parametrize(
    ("document", "text"),
    [
        ([], "[]\n"),
        ([{"tag": "1.0", "digest": DIGEST}], f'[{{"tag":"1.0","digest":"{DIGEST}"}}]\n'),
        ({"value": "<a&b>"}, '{"value":"\\u003ca\\u0026b\\u003e"}\n'),
        ({"value": "é\u2028\u2029"}, '{"value":"é\\u2028\\u2029"}\n'),
        ({"value": "\ud800"}, '{"value":"\ufffd"}\n'),
    ],
)
def test_encode_writes_what_go_json_encoder_writes(document: object, text: str) -> None:
    assert encode(document) == text


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("one", "one"),
        ("no token in bearer response:\n{}\n", "no token in bearer response: {}"),
        ("a\r\n  b", "a b"),
    ],
)
def test_one_line(message: str, line: str) -> None:
    assert one_line(message) == line


def test_a_request_on_a_pipe_left_open_is_answered() -> None:
    # Go's decoder stops after one value; a caller need not close stdin
    with subprocess.Popen(
        [sys.executable, "-m", "registry_image_resource", "check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        process.stdin.write(b'{"source": {"repository": "a", "bogus": 1}}')
        process.stdin.flush()
        try:
            returncode = process.wait(timeout=60)
        finally:
            process.stdin.close()
            process.kill()
        assert process.stdout is not None
        assert process.stderr is not None
        assert (returncode, process.stdout.read()) == (1, b"")
        assert (
            process.stderr.read().decode().splitlines()[-1]
            == 'ERROR invalid payload: unknown field "source.bogus"'
        )
