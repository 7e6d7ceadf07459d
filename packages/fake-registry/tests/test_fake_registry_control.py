"""The control API over real HTTP: faults, seeding, the request log and reset under /_fake/."""

import base64
import gzip
import io
import json
import signal
import subprocess
import sys
import tarfile

import pytest
import requests

from fake_registry import FakeRegistry, Fault


@pytest.fixture
def reg(fake_registry_factory) -> FakeRegistry:
    return fake_registry_factory(control=True)


def test_off_by_default(fake_registry):
    r = requests.get(f"{fake_registry.url}/_fake/faults")
    assert (r.status_code, r.text) == (404, "404 page not found\n")


def test_add_a_fault_then_it_is_applied_and_counted(reg):
    reg.push_image("team/app", "1.0")
    r = requests.post(
        f"{reg.url}/_fake/faults",
        json={"status": 503, "path": "/manifests/1.0$", "method": "GET", "retry_after": 2},
    )
    assert r.status_code == 201
    assert r.json() == {
        "id": 1,
        "method": "GET",
        "path": "/manifests/1.0$",
        "times": 1,
        "status": 503,
        "retry_after": 2,
        "reset": False,
        "drop_after": None,
        "drop_request_after": None,
        "corrupt_at": None,
        "latency": 0.0,
        "quirks": [],
        "hits": 0,
        "remaining": 1,
    }
    first = requests.get(f"{reg.url}/v2/team/app/manifests/1.0")
    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    assert requests.get(f"{reg.url}/v2/team/app/manifests/1.0").status_code == 200
    [rule] = requests.get(f"{reg.url}/_fake/faults").json()["faults"]
    assert (rule["id"], rule["hits"], rule["remaining"]) == (1, 1, 0)


def test_faults_added_over_http_and_in_python_are_one_list(reg):
    reg.faults.add(Fault(path="/v2/$", latency=0.01, times=None))
    requests.post(
        f"{reg.url}/_fake/faults", json=[{"reset": True, "path": "/_catalog"}, {"quirks": ["no_range"]}]
    )
    rules = requests.get(f"{reg.url}/_fake/faults").json()["faults"]
    assert [(r["id"], r["path"], r["times"], r["quirks"]) for r in rules] == [
        (1, "/v2/$", None, []),
        (2, "/_catalog", 1, []),
        (3, "", 1, ["no_range"]),  # the Fault default; faults.quirk() defaults to None
    ]
    assert [f.reset for f in reg.faults.pending()] == [False, True, False]


def test_drop_one_fault_by_id_then_clear_all(reg):
    requests.post(f"{reg.url}/_fake/faults", json=[{"status": 500}, {"status": 429}])
    assert requests.delete(f"{reg.url}/_fake/faults/1").json() == {"removed": 1}
    assert [r["status"] for r in requests.get(f"{reg.url}/_fake/faults").json()["faults"]] == [429]
    r = requests.delete(f"{reg.url}/_fake/faults/1")
    assert (r.status_code, r.json()) == (404, {"error": "no fault rule 1"})
    assert requests.delete(f"{reg.url}/_fake/faults").json() == {"faults": []}
    assert reg.faults.pending() == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"bogus": 1},
            "unknown fault field 'bogus'; known: ['corrupt_at', 'drop_after', 'drop_request_after', 'latency',"
            " 'method', 'path', 'quirks', 'reset', 'retry_after', 'status', 'times']",
        ),
        ({"status": "503"}, "fault field 'status': '503' is not an integer, 0 or more, or null"),
        ({"status": 42}, "status 42 is not an HTTP status (100 to 599)"),
        ({"reset": 1}, "fault field 'reset': 1 is not true or false"),
        (
            {"quirks": ["nope"]},
            "unknown quirks ['nope']; known: ['no_content_type', 'no_digest_header', 'no_range']",
        ),
        ({"path": "("}, "fault field 'path': missing ), unterminated subpattern at position 0"),
        ([1], "a fault is a JSON object"),
    ],
)
def test_a_bad_fault_is_refused_with_the_reason(reg, body, error):
    r = requests.post(f"{reg.url}/_fake/faults", json=body)
    assert (r.status_code, r.json()) == (400, {"error": error})
    assert reg.faults.rules() == []


def test_body_that_is_not_json_is_refused(reg):
    r = requests.post(f"{reg.url}/_fake/faults", data=b"{")
    assert r.status_code == 400
    assert r.json()["error"].startswith("body is not JSON: ")


def test_unknown_route_and_wrong_method(reg):
    r = requests.get(f"{reg.url}/_fake/nope")
    assert (r.status_code, r.json()) == (404, {"error": "no control route /_fake/nope"})
    r = requests.put(f"{reg.url}/_fake/faults")
    assert (r.status_code, r.json()) == (405, {"error": "PUT not allowed on /_fake/faults"})


def layer_files(reg: FakeRegistry, repository: str, digest: str) -> dict[str, bytes]:
    data = gzip.decompress(reg.blob(repository, digest))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else m.type) for m in tar.getmembers()}


def test_seed_an_image_from_json(reg):
    r = requests.post(
        f"{reg.url}/_fake/images",
        json={
            "repository": "team/app",
            "tags": ["1.0", "latest"],
            "layers": [
                {
                    "etc": {"type": "dir"},
                    "etc/motd": "hi\n",
                    "bin/tool": {
                        "type": "file",
                        "base64": base64.b64encode(b"\x7fELF").decode(),
                        "mode": 493,
                    },
                    "bin/sh": {"type": "symlink", "target": "/bin/tool"},
                }
            ],
            "config": {"env": ["A=1"], "cmd": ["sh"]},
            "labels": {"org.opencontainers.image.version": "1.0"},
            "platform": "linux/arm64/v8",
        },
    )
    assert r.status_code == 201
    answer = r.json()
    assert reg.tags("team/app") == ["1.0", "latest"]
    assert reg.manifest("team/app", "1.0").digest == answer["digest"]
    assert answer["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert answer["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    config = json.loads(reg.blob("team/app", answer["config"]["digest"]))
    assert (config["architecture"], config["config"]["Env"], config["config"]["Cmd"]) == (
        "arm64",
        ["A=1"],
        ["sh"],
    )
    assert config["config"]["Labels"] == {"org.opencontainers.image.version": "1.0"}
    [layer] = answer["layers"]
    assert layer_files(reg, "team/app", layer["digest"]) == {
        "etc": tarfile.DIRTYPE,
        "etc/motd": b"hi\n",
        "bin/tool": b"\x7fELF",
        "bin/sh": tarfile.SYMTYPE,
    }


def test_seed_an_image_the_same_as_python_does(reg):
    r = requests.post(
        f"{reg.url}/_fake/images",
        json={"repository": "a/b", "tag": "v1", "layers": [{"x": "1"}], "format": "docker"},
    )
    python = reg.push_image("a/c", "v1", layers=[{"x": "1"}], format="docker")
    assert r.json()["digest"] == python.digest


def test_seed_a_referrer_by_its_subjects_tag(reg):
    subject = requests.post(f"{reg.url}/_fake/images", json={"repository": "a/b", "tag": "v1"}).json()
    r = requests.post(
        f"{reg.url}/_fake/images",
        json={"repository": "a/b", "tags": [], "subject": "v1", "artifact_type": "application/spdx+json"},
    )
    referrers = requests.get(f"{reg.url}/v2/a/b/referrers/{subject['digest']}").json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in referrers] == [
        (r.json()["digest"], "application/spdx+json")
    ]


def test_seed_an_index_of_platforms(reg):
    r = requests.post(
        f"{reg.url}/_fake/indexes",
        json={"repository": "team/multi", "tag": "1.0", "platforms": ["linux/amd64", "linux/s390x"]},
    )
    assert r.status_code == 201
    answer = r.json()
    stored = reg.manifest("team/multi", "1.0").json()
    assert [m["digest"] for m in stored["manifests"]] == [m["digest"] for m in answer["manifests"]]
    assert [m["platform"]["architecture"] for m in answer["manifests"]] == ["amd64", "s390x"]


def test_seed_an_index_of_described_images(reg):
    r = requests.post(
        f"{reg.url}/_fake/indexes",
        json={
            "repository": "team/multi",
            "tags": ["1.0"],
            "manifests": [{"platform": "linux/amd64", "layers": [{"a": "1"}]}, {"platform": "linux/arm/v7"}],
        },
    )
    assert r.status_code == 201
    assert [m["platform"] for m in r.json()["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
    ]


@pytest.mark.parametrize(
    ("route", "body", "error"),
    [
        ("images", {"tag": "v1"}, "'repository' must be a string like \"team/app\""),
        ("images", {"repository": "a/b", "bogus": 1}, "unknown field 'bogus' in an image; known: "),
        (
            "images",
            {"repository": "a/b", "layers": [{"x": {"type": "socket"}}]},
            "entry 'x': unknown type 'socket'",
        ),
        (
            "images",
            {"repository": "a/b", "layers": [{"x": {"base64": "!!"}}]},
            "entry 'x': 'base64' is not base64",
        ),
        (
            "images",
            {"repository": "a/b", "compression": "xz"},
            "'compression' must be one of ['gzip', 'zstd', 'none']",
        ),
        ("indexes", {"repository": "a/b", "manifests": []}, "'manifests' must be a non-empty list of images"),
    ],
)
def test_a_bad_seed_is_refused_with_the_reason(reg, route, body, error):
    r = requests.post(f"{reg.url}/_fake/{route}", json=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith(error)
    assert reg.repositories() == []


def test_a_seed_with_an_invalid_repository_gets_the_registry_error(reg):
    r = requests.post(f"{reg.url}/_fake/images", json={"repository": "Team/App"})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "invalid repository name", "code": "NAME_INVALID", "detail": {"name": "Team/App"}},
    )


def test_read_filter_and_clear_the_request_log(reg):
    reg.push_image("team/app", "1.0")
    requests.get(f"{reg.url}/v2/")
    requests.head(f"{reg.url}/v2/team/app/manifests/1.0", headers={"Authorization": "Basic c2VjcmV0"})
    log = requests.get(f"{reg.url}/_fake/requests").json()
    assert log["summary"] == ["GET /v2/ 200", "HEAD /v2/team/app/manifests/1.0 200"]
    head = log["requests"][1]
    assert (head["method"], head["path"], head["query"], head["status"]) == (
        "HEAD",
        "/v2/team/app/manifests/1.0",
        "",
        200,
    )
    assert head["headers"]["authorization"] == "***"
    filtered = requests.get(
        f"{reg.url}/_fake/requests", params={"method": "HEAD", "path": "/manifests/"}
    ).json()
    assert filtered["summary"] == ["HEAD /v2/team/app/manifests/1.0 200"]
    assert requests.delete(f"{reg.url}/_fake/requests").json() == {"requests": [], "summary": []}
    assert reg.requests.summary() == []


def test_control_requests_get_no_faults_and_are_not_logged(reg):
    reg.faults.status(503, times=None)
    assert requests.get(f"{reg.url}/_fake/requests").status_code == 200
    assert requests.get(f"{reg.url}/v2/").status_code == 503
    assert reg.requests.summary() == ["GET /v2/ 503"]


def test_control_needs_no_registry_credentials(fake_registry_factory):
    reg = fake_registry_factory(control=True, users=["ci:secret"], auth="bearer")
    assert requests.get(f"{reg.url}/v2/").status_code == 401
    assert requests.post(f"{reg.url}/_fake/images", json={"repository": "a/b"}).status_code == 201


def test_reset_forgets_content_faults_and_log(reg):
    reg.push_image("team/app", "1.0")
    reg.faults.status(500, r"/nothing$")
    requests.get(f"{reg.url}/v2/")
    assert requests.post(f"{reg.url}/_fake/reset").json() == {}
    assert (reg.repositories(), reg.faults.rules(), reg.requests.summary()) == ([], [], [])


def test_serve_control_from_the_command_line():
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_registry", "serve", "--listen", "127.0.0.1:0", "--control"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        seeded = requests.post(f"{url}/_fake/images", json={"repository": "team/app", "tag": "1.0"})
        assert seeded.status_code == 201
        requests.post(f"{url}/_fake/faults", json={"status": 503, "path": "/manifests/", "method": "GET"})
        assert requests.get(f"{url}/v2/team/app/manifests/1.0").status_code == 503
        r = requests.get(f"{url}/v2/team/app/manifests/1.0")
        assert (r.status_code, r.headers["Docker-Content-Digest"]) == (200, seeded.json()["digest"])
        assert requests.get(f"{url}/_fake/requests").json()["summary"] == [
            "GET /v2/team/app/manifests/1.0 503",
            "GET /v2/team/app/manifests/1.0 200",
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    assert (proc.returncode, err) == (0, "")
