"""Logging: every known secret masked in every record, our own and other libraries'."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from registry_image_resource.log import LOGGER_NAME, add_secrets, configure, get_logger, redact


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    for name in (LOGGER_NAME, None):
        logger = logging.getLogger(name)
        for handler in [
            h for h in logger.handlers if type(h).__module__ == "registry_image_resource.log._handler"
        ]:
            logger.removeHandler(handler)
    ours = logging.getLogger(LOGGER_NAME)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True


def test_redact_masks_longest_secret_first() -> None:
    assert redact("token abc and abcdef", ["abc", "abcdef"]) == "token *** and ***"


def test_redact_ignores_empty_secrets() -> None:
    assert redact("nothing to hide", ["", ""]) == "nothing to hide"


def test_debug_records_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=True, secrets=["s3cr3t-value"])
    get_logger().debug("Authorization: Basic %s", "s3cr3t-value")
    assert capsys.readouterr().err == "DEBUG Authorization: Basic ***\n"


def test_debug_records_are_dropped_without_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=False, secrets=[])
    get_logger().debug("hidden")
    get_logger().info("shown")
    assert capsys.readouterr().err == "INFO shown\n"


def test_exception_tracebacks_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=True, secrets=["s3cr3t-value"])
    try:
        raise ValueError("bad password s3cr3t-value")
    except ValueError:
        get_logger().debug_traceback("failed")
    err = capsys.readouterr().err
    assert err.startswith("DEBUG failed\nTraceback (most recent call last):\n")
    assert err.endswith("ValueError: bad password ***\n")
    assert "s3cr3t-value" not in err


def test_other_libraries_warnings_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=True, secrets=["s3cr3t-value"])
    logging.getLogger("urllib3.connectionpool").warning("Retrying https://u:s3cr3t-value@host/")
    assert capsys.readouterr().err == "WARNING Retrying https://u:***@host/\n"


def test_other_libraries_debug_never_shows_even_with_debug(capsys: pytest.CaptureFixture[str]) -> None:
    # botocore's debug log prints STS responses, fresh credentials included
    configure(debug=True, secrets=[])
    logging.getLogger("botocore.endpoint").debug("Response body: SecretAccessKey=xyz")
    assert capsys.readouterr().err == ""


def test_configure_twice_leaves_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=False, secrets=[])
    configure(debug=False, secrets=["abc"])
    get_logger().info("abc")
    assert capsys.readouterr().err == "INFO ***\n"


def test_secrets_added_at_run_time_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=True, secrets=["from-request"])
    add_secrets(["bearer-token-value", ""])
    get_logger().debug("token bearer-token-value for from-request")
    assert capsys.readouterr().err == "DEBUG token *** for ***\n"


def test_reconfiguring_keeps_secrets_added_at_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=True, secrets=[])
    add_secrets(["bearer-token-value"])
    configure(debug=False, secrets=["other"])
    get_logger().error("bearer-token-value other")
    assert capsys.readouterr().err == "ERROR *** ***\n"


def test_library_warnings_mask_secrets_added_at_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure(debug=False, secrets=[])
    add_secrets(["sts-session-token"])
    logging.getLogger("botocore.credentials").warning("refreshed sts-session-token")
    assert capsys.readouterr().err == "WARNING refreshed ***\n"


def test_a_failing_stream_never_prints_the_arguments_unmasked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = io.StringIO()
    closed.close()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", closed)
        configure(debug=False, secrets=["s3cr3t-value"])
    # logging's own fallback would print the record's arguments to the (working) sys.stderr
    get_logger().info("password=%s", "s3cr3t-value")
    assert capsys.readouterr().err == ""


# Deferred configuration (check): ``logging`` is imported only for a record that is written. Each
# runs in a fresh interpreter, since this one (pytest) has ``logging`` loaded already.

DEFERRED_PRELUDE = """
import sys
from registry_image_resource.log import add_secrets, capture_library_logs, configure, get_logger
configure(debug=False, secrets=["s3cr3t-value"], deferred=True)
"""


def run_fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DEFERRED_PRELUDE + code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_deferred_records_below_the_level_import_nothing() -> None:
    result = run_fresh("get_logger().debug('hidden s3cr3t-value'); print('logging' in sys.modules)")
    assert (result.stdout, result.stderr) == ("False\n", "")


def test_deferred_first_written_record_installs_the_masking_handler() -> None:
    code = "add_secrets(['run-time-token']); get_logger().warning('s3cr3t-value and run-time-token')"
    assert run_fresh(code).stderr == "WARNING *** and ***\n"


def test_deferred_library_records_are_masked_once_captured() -> None:
    code = "capture_library_logs(); import logging; logging.getLogger('botocore').warning('key s3cr3t-value')"
    assert run_fresh(code).stderr == "WARNING key ***\n"
