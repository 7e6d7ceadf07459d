"""Issue 14, defect 3, against a hostile server: lengths and bodies without bound. Manifests are read
up to 4 MiB, token answers up to 1 MiB, error bodies up to 64 KiB for the message, a blob never
past its descriptor's size; each failure is one clean line (never "internal error"), in bounded
time and memory, and a failed ``in`` leaves DEST empty. An answer to HEAD has no body, whatever
its ``Content-Length`` says."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from fake_registry import File, build_image
from packages.resource.tests.hostile import (
    REPO,
    Action,
    HostileServer,
    Run,
    Stream,
    json_response,
    response,
    run_cli,
    serve_image,
)

MIB = 1 << 20
IMAGE = build_image([{"a.txt": File(b"hello\n")}], compression="none")
MANIFEST_BY_DIGEST = re.escape(f"/v2/{REPO}/manifests/{IMAGE.digest}")
LAYER = IMAGE.layers[0]


def get_into(server: HostileServer, dest: Path) -> Run:
    dest.mkdir()
    request = {"source": {"repository": f"{server.host}/{REPO}"}, "version": {"digest": IMAGE.digest}}
    return run_cli("in", [str(dest)], request)


def assert_failed(run: Run, line: str) -> None:
    assert (run.returncode, run.stdout) == (1, b""), run.stderr.decode()
    assert run.last_line == line


def manifest_error(server: HostileServer, reason: str) -> str:
    url = f"http://{server.host}/v2/{REPO}/manifests/{IMAGE.digest}"
    return f"ERROR download failed: fetch descriptor: GET {url}: {reason}"


# --- manifests: at most 4 MiB -------------------------------------------------------------------


@pytest.mark.parametrize("length", [10**14, 10**19, 4 * MIB + 1], ids=["1e14", "1e19", "4MiB+1"])
def test_a_manifest_declaring_more_than_4_mib_is_refused_unread(
    hostile: Callable[..., HostileServer], tmp_path: Path, baseline_rss: int, length: int
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    server.on("GET", MANIFEST_BY_DIGEST, response(200, "OK", [("Content-Length", str(length))]))
    run = get_into(server, tmp_path / "dest")
    assert_failed(run, manifest_error(server, "the answer's body is larger than 4 MiB"))
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.mark.parametrize(
    "answer",
    [
        Stream(b"HTTP/1.1 200 OK\r\n\r\n", b"{" * 65536, 256 * MIB),
        Stream(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"10000\r\n" + b"{" * 65536 + b"\r\n",
            256 * MIB,
        ),
    ],
    ids=["until-close", "chunked"],
)
def test_a_manifest_body_without_end_is_cut_at_4_mib(
    hostile: Callable[..., HostileServer], tmp_path: Path, baseline_rss: int, answer: Action
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    server.on("GET", MANIFEST_BY_DIGEST, answer)
    run = get_into(server, tmp_path / "dest")
    assert_failed(run, manifest_error(server, "the answer's body is larger than 4 MiB"))
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_chunk_size_of_40_hex_digits_is_a_framing_error(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 40 + b"\r\n"
    server.on("GET", MANIFEST_BY_DIGEST, chunk)
    run = get_into(server, tmp_path / "dest")
    assert_failed(
        run,
        manifest_error(server, "malformed HTTP response: illegal chunk header (gave up after 5 attempts)"),
    )
    assert list((tmp_path / "dest").iterdir()) == []


# --- HEAD: no body, whatever its Content-Length -------------------------------------------------


@pytest.mark.parametrize("length", [5 * MIB, 10**14], ids=["5MiB", "1e14"])
def test_a_head_answer_declaring_a_large_length_is_not_a_body(
    hostile: Callable[..., HostileServer], length: int
) -> None:
    server = hostile()
    server.on("GET", "/v2/", json_response(200, {}))
    headers = [
        ("Content-Type", IMAGE.media_type),
        ("Docker-Content-Digest", IMAGE.digest),
        ("Content-Length", str(length)),
    ]
    server.on("HEAD", f"/v2/{REPO}/manifests/latest", response(200, "OK", headers))
    run = run_cli("check", [], {"source": {"repository": f"{server.host}/{REPO}", "tag": "latest"}})
    assert (run.returncode, run.stdout) == (0, f'[{{"tag":"latest","digest":"{IMAGE.digest}"}}]\n'.encode())
    assert server.seen("GET", f"/v2/{REPO}/manifests/.*") == []


# --- token answers: at most 1 MiB ---------------------------------------------------------------


def test_a_token_answer_larger_than_1_mib_is_refused(
    hostile: Callable[..., HostileServer], baseline_rss: int
) -> None:
    server = hostile()
    challenge = f'Bearer realm="http://{server.host}/token",service="hostile"'
    server.on("GET", "/v2/", response(401, "Unauthorized", [("WWW-Authenticate", challenge)]))
    server.on("GET", "/token", Stream(b"HTTP/1.1 200 OK\r\n\r\n", b'{"token":"' + b"t" * 65536, 256 * MIB))
    run = run_cli("check", [], {"source": {"repository": f"{server.host}/{REPO}", "tag": "latest"}})
    assert_failed(
        run,
        f"ERROR checking origin {server.host}/{REPO} failed: initialize transport: "
        f"GET http://{server.host}/token: fetching a token: the answer's body is larger than 1 MiB",
    )
    assert run.peak_rss - baseline_rss < 64 * MIB


# --- error answers: 64 KiB read for the message, the rest never -------------------------------


def test_an_endless_error_body_is_read_for_its_message_only(
    hostile: Callable[..., HostileServer], tmp_path: Path, baseline_rss: int
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    server.on(
        "GET", MANIFEST_BY_DIGEST, Stream(b"HTTP/1.1 403 Forbidden\r\n\r\n", b"denied " * 9362, 256 * MIB)
    )
    run = get_into(server, tmp_path / "dest")
    assert_failed(run, manifest_error(server, "403 Forbidden: " + ("denied " * 29)[:200] + "..."))
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB
    assert list((tmp_path / "dest").iterdir()) == []


def test_an_error_document_past_64_kib_still_gives_no_internal_error(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    document = json.dumps({"errors": [{"code": "DENIED", "message": "m" * (100 << 10)}]}).encode()
    server.on("GET", MANIFEST_BY_DIGEST, response(403, "Forbidden", [], document))
    run = get_into(server, tmp_path / "dest")
    # Cut at 64 KiB the document no longer parses: its start is the message.
    start = '{"errors": [{"code": "DENIED", "message": "' + "m" * 200
    assert_failed(run, manifest_error(server, f"403 Forbidden: {start[:200]}..."))


# --- blobs: never past the descriptor's size ----------------------------------------------------


def test_a_blob_declaring_more_than_its_descriptor_is_refused_unread(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    blob = re.escape(f"/v2/{REPO}/blobs/{LAYER.digest}")
    server.on("GET", blob, response(200, "OK", [("Content-Length", str(10**14))]))
    run = get_into(server, tmp_path / "dest")
    assert_failed(
        run,
        f"ERROR download failed: write rootfs: blob {LAYER.digest}: "
        f"more bytes than the expected size {len(LAYER.data)}",
    )
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_blob_body_going_on_past_its_size_is_refused(
    hostile: Callable[..., HostileServer], tmp_path: Path, baseline_rss: int
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    blob = re.escape(f"/v2/{REPO}/blobs/{LAYER.digest}")
    server.on("GET", blob, Stream(b"HTTP/1.1 200 OK\r\n\r\n" + LAYER.data, b"\0" * 65536, 256 * MIB))
    run = get_into(server, tmp_path / "dest")
    assert_failed(
        run,
        f"ERROR download failed: write rootfs: blob {LAYER.digest}: "
        f"more bytes than the expected size {len(LAYER.data)}",
    )
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_config_larger_than_its_descriptor_is_refused(
    hostile: Callable[..., HostileServer], tmp_path: Path
) -> None:
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    config = re.escape(f"/v2/{REPO}/blobs/{IMAGE.config_digest}")
    server.on("GET", config, Stream(b"HTTP/1.1 200 OK\r\n\r\n" + IMAGE.config, b" " * 65536, 256 * MIB))
    run = get_into(server, tmp_path / "dest")
    assert_failed(
        run,
        f"ERROR download failed: fetching image: blob {IMAGE.config_digest}: "
        f"more bytes than the expected size {len(IMAGE.config)}",
    )
    assert list((tmp_path / "dest").iterdir()) == []


def test_an_endless_error_body_of_a_blob_is_read_for_its_message_only(
    hostile: Callable[..., HostileServer], tmp_path: Path, baseline_rss: int
) -> None:
    """A blob is streamed, so its error answer was read whole, without bound, and its message lost."""
    server = hostile()
    serve_image(server, REPO, "latest", IMAGE)
    blob = re.escape(f"/v2/{REPO}/blobs/{LAYER.digest}")
    server.on("GET", blob, Stream(b"HTTP/1.1 403 Forbidden\r\n\r\n", b"denied " * 9362, 256 * MIB))
    run = get_into(server, tmp_path / "dest")
    url = f"http://{server.host}/v2/{REPO}/blobs/{LAYER.digest}"
    assert_failed(
        run, f"ERROR download failed: write rootfs: GET {url}: 403 Forbidden: {('denied ' * 29)[:200]}..."
    )
    assert run.seconds < 10
    assert run.peak_rss - baseline_rss < 64 * MIB
    assert list((tmp_path / "dest").iterdir()) == []
