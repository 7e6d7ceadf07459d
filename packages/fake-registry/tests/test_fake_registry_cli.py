"""The command line: the ready line first, flushed; clean exit on SIGTERM and SIGINT."""

import signal
import subprocess
import sys

import pytest
import requests


def serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_registry", "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_then_clean_exit(sig):
    proc, line = serve()
    try:
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert requests.get(f"{url}/v2/").status_code == 200
    finally:
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert err == ""


def test_tls_users_and_storage(tmp_path):
    ca = tmp_path / "ca.pem"
    proc, line = serve(
        "--tls", "--user", "a:b", "--user", "c:d", "--storage", str(tmp_path / "s"), "--ca-out", str(ca)
    )
    try:
        assert line.startswith("listening on https://127.0.0.1:")
        url = line.removeprefix("listening on ")
        assert requests.get(f"{url}/v2/", verify=str(ca)).status_code == 401
        assert requests.get(f"{url}/v2/", verify=str(ca), auth=("c", "d")).status_code == 200
        assert proc.stdout.readline().strip() == f"ca-file {ca}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "b" not in out.replace("https", "").replace("ca-file", "").split("listening")[0]


def test_proxy_listen(tmp_path):
    proc, _line = serve("--proxy-listen", "127.0.0.1:0")
    try:
        assert proc.stdout.readline().startswith("ca-file ")
        assert proc.stdout.readline().startswith("proxy on http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_bad_user_argument():
    proc = subprocess.run(
        [sys.executable, "-m", "fake_registry", "serve", "--user", "nocolon"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr.strip()) == (2, "", "--user must be NAME:PASSWORD")


def test_control_and_upload_timeout_options():
    from fake_registry._cli import build_parser

    args = build_parser().parse_args(["serve", "--control", "--upload-timeout", "0.5"])
    assert (args.control, args.upload_timeout) == (True, 0.5)
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.control, defaults.upload_timeout) == (False, 7 * 24 * 3600.0)
