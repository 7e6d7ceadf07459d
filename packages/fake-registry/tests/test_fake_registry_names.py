"""Repository names: invalid ones get NAME_INVALID and never reach storage."""

import pytest
import requests

from fake_registry import FakeRegistry


@pytest.mark.parametrize(
    "name",
    ["UPPER", "a/../b", "..", "a//b", "-lead", "a/.hidden", "_x", "a" * 256, "a/%2e%2e/etc"],
)
def test_invalid_names_are_name_invalid(fake_registry, name):
    r = requests.get(f"{fake_registry.url}/v2/{name}/tags/list")
    assert r.status_code in (400, 404)
    if r.status_code == 400:
        assert r.json()["errors"][0]["code"] == "NAME_INVALID"


@pytest.mark.parametrize("name", ["a/..", "../escape", "x/../../y"])
def test_path_escape_never_touches_storage(tmp_path, name):
    storage = tmp_path / "store"
    with FakeRegistry(storage=storage) as reg:
        s = requests.Session()
        # raw path, not normalised by the client
        req = requests.Request("POST", f"{reg.url}/v2/{name}/blobs/uploads/").prepare()
        req.url = f"{reg.url}/v2/{name}/blobs/uploads/"
        r = s.send(req)
        assert r.status_code == 400
        assert r.json()["errors"][0]["code"] == "NAME_INVALID"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert not (storage / "repositories").exists()


def test_valid_names(fake_registry):
    for name in ("a", "a/b/c", "a-b_c.d", "a__b", "a---b", "x" * 255):
        fake_registry.push_image(name, "v1")
        assert requests.head(f"{fake_registry.url}/v2/{name}/manifests/v1").status_code == 200, name
