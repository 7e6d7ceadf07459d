"""Issue 14, defects 2, 4, 5 and 6, against a hostile server: answers whose HTTP/1.1 framing is
unbounded or malformed. Each ends in the exact one-line error (retried as a transient failure),
in bounded time and memory, and a connection whose framing was in doubt is never used again."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from packages.resource.tests.hostile import (
    REPO,
    Action,
    HostileServer,
    Run,
    Send,
    Stream,
    Trickle,
    json_response,
    response,
    run_cli,
)

MANIFEST = f"/v2/{REPO}/manifests/latest"
MIB = 1 << 20


def check_answered_with(server: HostileServer, answer: Action) -> Run:
    """``check`` in tag mode, the manifest's HEAD (and GET) answered with ``answer``."""
    server.on("GET", "/v2/", json_response(200, {}))
    server.on("HEAD", MANIFEST, answer)
    server.on("GET", MANIFEST, answer)
    return run_cli("check", [], {"source": {"repository": f"{server.host}/{REPO}", "tag": "latest"}})


def gave_up(server: HostileServer, reason: str) -> str:
    return (
        f"ERROR checking origin {server.host}/{REPO} failed: get remote image: "
        f"HEAD http://{server.host}{MANIFEST}: {reason} (gave up after 5 attempts)"
    )


def assert_failed(run: Run, line: str) -> None:
    assert (run.returncode, run.stdout) == (1, b""), run.stderr.decode()
    assert run.last_line == line


# --- defect 2: heads are bounded ----------------------------------------------------------------


def test_folded_header_lines_stop_at_64_kib(hostile: Callable[..., HostileServer], baseline_rss: int) -> None:
    server = hostile()
    # 1600 continuation lines of 64 KiB (100 MiB): read whole, they cost time and memory without end.
    fold = b" " + b"y" * (64 * 1024 - 3) + b"\r\n"
    run = check_answered_with(server, Stream(b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n", fold, 1600 * len(fold)))
    assert_failed(run, gave_up(server, "malformed HTTP response: the response head is larger than 64 KiB"))
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB


def test_one_header_line_longer_than_64_kib_is_refused(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    run = check_answered_with(server, Stream(b"HTTP/1.1 200 OK\r\nX-Long: ", b"z" * 65536, 16 * MIB))
    assert_failed(run, gave_up(server, "malformed HTTP response: the response head is larger than 64 KiB"))


def test_more_than_256_header_fields_are_refused(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    fields = [(f"X-{i}", "a") for i in range(300)]
    run = check_answered_with(server, response(200, "OK", fields))
    assert_failed(run, gave_up(server, "malformed HTTP response: more than 256 header fields"))


# --- defect 4: ASCII digits only, and no header value in the error -------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "HTTP/1.1 200 OK\r\nContent-Length: \u0661\u0660\r\n\r\n".encode(),  # Arabic-Indic 10
        "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n".encode(),  # superscript two
        b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: +10\r\n\r\n",
    ],
    ids=["arabic-indic", "superscript", "underscore", "plus"],
)
def test_a_content_length_of_other_than_ascii_digits_is_refused(
    hostile: Callable[..., HostileServer], raw: bytes
) -> None:
    server = hostile()
    run = check_answered_with(server, raw)
    assert_failed(run, gave_up(server, "malformed HTTP response: bad content-length"))
    value = raw.split(b"Content-Length: ")[1].split(b"\r\n")[0]
    assert value not in run.stderr


@pytest.mark.parametrize(
    "status", ["\u0662\u0660\u0660", "\uff12\uff10\uff10", "2 0"], ids=["arabic-indic", "fullwidth", "space"]
)
def test_a_status_of_other_than_ascii_digits_is_refused(
    hostile: Callable[..., HostileServer], status: str
) -> None:
    server = hostile()
    run = check_answered_with(server, f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n".encode())
    assert_failed(run, gave_up(server, "malformed HTTP response: illegal status line"))
    assert status.encode() not in run.stderr


# --- defect 5: interim answers and the overall deadline ---------------------------------------


def test_endless_interim_answers_stop_after_16(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    run = check_answered_with(server, Stream(b"", interim, 200_000 * len(interim)))
    assert_failed(run, gave_up(server, "more than 16 interim (1xx) answers"))
    assert run.seconds < 10


def test_switching_protocols_is_refused_and_its_connection_dropped(
    hostile: Callable[..., HostileServer],
) -> None:
    server = hostile()
    run = check_answered_with(server, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
    assert_failed(run, gave_up(server, "unexpected 101 Switching Protocols answer"))
    heads = server.seen("HEAD", MANIFEST)
    assert len({request.connection for request in heads}) == len(heads) == 5


def test_an_answer_that_trickles_ends_at_the_request_deadline(
    hostile: Callable[..., HostileServer],
) -> None:
    """Each byte arrives well within the read timeout; the whole answer never does."""
    from registry_image_resource.registry._http.connections import HTTP
    from registry_image_resource.registry._http.proxies import bypass

    server = hostile()
    server.on("GET", "/slow", Trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 600, 0.05))
    http = HTTP(lambda: pytest.fail("no TLS here"), proxies={}, bypass=bypass)
    http.deadline = 1.0
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^the request took longer than its deadline$"):
        http.request("GET", f"{server.url}/slow")
    assert time.monotonic() - start < 10
    http.close()


# --- defect 6: framing h11 refuses, and connections that cannot be reused -----------------------


def test_transfer_encoding_on_http_1_0_does_not_keep_the_connection(
    hostile: Callable[..., HostileServer],
) -> None:
    server = hostile()
    ping = (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    server.on("GET", "/v2/", Send(ping))  # the server keeps the connection open
    digest = "sha256:" + "a" * 64
    server.on(
        "HEAD",
        MANIFEST,
        response(
            200,
            "OK",
            [
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", digest),
                ("Content-Length", "100"),
            ],
        ),
    )
    run = run_cli("check", [], {"source": {"repository": f"{server.host}/{REPO}", "tag": "latest"}})
    assert (run.returncode, run.stdout) == (0, f'[{{"tag":"latest","digest":"{digest}"}}]\n'.encode())
    [ping_request] = server.seen("GET", "/v2/")
    [head] = server.seen("HEAD", MANIFEST)
    assert head.connection != ping_request.connection


def test_a_transfer_encoding_other_than_chunked_is_refused(hostile: Callable[..., HostileServer]) -> None:
    server = hostile()
    run = check_answered_with(server, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
    assert_failed(run, gave_up(server, "malformed HTTP response: a transfer-encoding other than chunked"))


def test_both_content_length_and_transfer_encoding_are_refused(
    hostile: Callable[..., HostileServer],
) -> None:
    server = hostile()
    run = check_answered_with(
        server, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert_failed(run, gave_up(server, "malformed HTTP response: both Content-Length and Transfer-Encoding"))


@pytest.mark.parametrize(
    "line",
    [b"Name : value", b"Two words: value", b"X-Nul: a\x00b", b"X-Cr: a\rb", b"(): value", b"No colon"],
    ids=["space-before-colon", "space-in-name", "nul", "bare-cr", "separators", "no-colon"],
)
def test_a_malformed_header_line_is_refused(hostile: Callable[..., HostileServer], line: bytes) -> None:
    server = hostile()
    run = check_answered_with(server, b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n")
    assert_failed(run, gave_up(server, "malformed HTTP response: illegal header line"))
