"""Auth: Basic with --user, Bearer from the token endpoint with per-repository scopes."""

import pytest
import requests

BASIC = {"users": ["alice:wonder", "bob:builder"]}


def test_basic_requires_credentials_with_challenge(fake_registry_factory):
    reg = fake_registry_factory(**BASIC)
    r = requests.get(f"{reg.url}/v2/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="fake-registry"'
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("auth", [("alice", "wrong"), ("nobody", "wonder"), ("alice", "")])
def test_basic_wrong_credentials_get_401(fake_registry_factory, auth):
    reg = fake_registry_factory(**BASIC)
    r = requests.get(f"{reg.url}/v2/", auth=auth)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="fake-registry"'


def test_basic_each_user_works(fake_registry_factory):
    reg = fake_registry_factory(**BASIC)
    reg.push_image("a/app", "v1")
    for auth in (("alice", "wonder"), ("bob", "builder")):
        assert requests.get(f"{reg.url}/v2/a/app/tags/list", auth=auth).json()["tags"] == ["v1"]


def test_basic_acl_denies_push(fake_registry_factory):
    reg = fake_registry_factory(users={"ro": "pw"}, acl={"ro": {"*": "pull"}})
    r = requests.post(f"{reg.url}/v2/a/app/blobs/uploads/", auth=("ro", "pw"))
    assert (r.status_code, r.json()["errors"][0]["code"]) == (403, "DENIED")


def token(reg, scope, auth=None, **kw):
    return requests.get(
        f"{reg.url}/token", params={"service": "fake-registry", "scope": scope}, auth=auth, **kw
    )


def test_bearer_challenge_names_realm_service_and_scope(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    r = requests.get(f"{reg.url}/v2/a/app/manifests/v1")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{reg.url}/token",service="fake-registry",scope="repository:a/app:pull"'
    )
    ping = requests.get(f"{reg.url}/v2/")
    assert ping.headers["WWW-Authenticate"] == f'Bearer realm="{reg.url}/token",service="fake-registry"'


def test_bearer_flow_pull_and_push(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    reg.push_image("a/app", "v1")
    answer = token(reg, "repository:a/app:pull,push", auth=("alice", "wonder")).json()
    assert answer["token"] == answer["access_token"]
    assert answer["expires_in"] == 300
    headers = {"Authorization": f"Bearer {answer['token']}"}
    assert requests.get(f"{reg.url}/v2/a/app/tags/list", headers=headers).status_code == 200
    assert requests.post(f"{reg.url}/v2/a/app/blobs/uploads/", headers=headers).status_code == 202


def test_bearer_token_is_per_repository(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    reg.push_image("a/other", "v1")
    t = token(reg, "repository:a/app:pull", auth=("alice", "wonder")).json()["token"]
    r = requests.get(f"{reg.url}/v2/a/other/tags/list", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(
        'scope="repository:a/other:pull",error="insufficient_scope"'
    )


def test_bearer_pull_token_cannot_push(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    t = token(reg, "repository:a/app:pull", auth=("alice", "wonder")).json()["token"]
    r = requests.post(f"{reg.url}/v2/a/app/blobs/uploads/", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_token_endpoint_rejects_wrong_password(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    r = token(reg, "repository:a/app:pull", auth=("alice", "nope"))
    assert r.status_code == 401
    assert "wonder" not in r.text


def test_anonymous_token_has_no_grants_unless_anonymous_pull(fake_registry_factory):
    closed = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    closed.push_image("a/app", "v1")
    t = token(closed, "repository:a/app:pull").json()["token"]
    assert (
        requests.get(f"{closed.url}/v2/a/app/tags/list", headers={"Authorization": f"Bearer {t}"}).status_code
        == 401
    )
    public = fake_registry_factory(users=["alice:wonder"], auth="bearer", anonymous_pull=True)
    public.push_image("a/app", "v1")
    t = token(public, "repository:a/app:pull,push").json()["token"]
    headers = {"Authorization": f"Bearer {t}"}
    assert requests.get(f"{public.url}/v2/a/app/tags/list", headers=headers).status_code == 200
    assert requests.post(f"{public.url}/v2/a/app/blobs/uploads/", headers=headers).status_code == 401


def test_oauth2_password_grant_and_refresh(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": "wonder",
        "service": "fake-registry",
        "scope": "repository:a/app:pull",
        "client_id": "test",
    }
    answer = requests.post(f"{reg.url}/token", data=form).json()
    refreshed = requests.post(
        f"{reg.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": answer["refresh_token"],
            "service": "fake-registry",
            "scope": "repository:a/app:pull",
        },
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != answer["access_token"]


def test_mount_needs_pull_on_source(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    t = token(reg, "repository:a/app:pull,push", auth=("alice", "wonder")).json()["token"]
    r = requests.post(
        f"{reg.url}/v2/a/app/blobs/uploads/",
        params={"mount": "sha256:" + "0" * 64, "from": "b/src"},
        headers={"Authorization": f"Bearer {t}"},
    )
    assert r.status_code == 401
    assert "repository:b/src:pull" in r.headers["WWW-Authenticate"]


def test_catalog_needs_catalog_scope(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    t = token(reg, "registry:catalog:*", auth=("alice", "wonder")).json()["token"]
    assert requests.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {t}"}).status_code == 200


def test_request_log_never_shows_credentials(fake_registry_factory):
    reg = fake_registry_factory(users=["alice:wonder"], auth="bearer")
    t = token(reg, "repository:a/app:pull", auth=("alice", "wonder")).json()["token"]
    requests.get(f"{reg.url}/v2/a/app/tags/list", headers={"Authorization": f"Bearer {t}"})
    text = repr(reg.requests.all())
    assert "wonder" not in text
    assert t not in text


BEARER = {"users": ["alice:wonder"], "auth": "bearer"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/a/app/blobs/uploads/"),
        ("PUT", "/v2/a/app/manifests/v1"),
        ("PATCH", "/v2/a/app/blobs/uploads/x"),
    ],
)
def test_bearer_challenge_for_a_write_asks_pull_and_push(fake_registry_factory, method, path):
    reg = fake_registry_factory(**BEARER)
    r = requests.request(method, f"{reg.url}{path}")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{reg.url}/token",service="fake-registry",scope="repository:a/app:pull,push"'
    )


def test_bearer_challenge_for_a_mount_names_both_repositories(fake_registry_factory):
    reg = fake_registry_factory(**BEARER)
    digest = "sha256:" + "a" * 64
    r = requests.post(f"{reg.url}/v2/a/app/blobs/uploads/", params={"mount": digest, "from": "b/base"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        f'Bearer realm="{reg.url}/token",service="fake-registry",'
        'scope="repository:a/app:pull,push repository:b/base:pull"'
    )


def test_bearer_push_only_token_cannot_write(fake_registry_factory):
    # as registry:2: a write needs both actions, so a token granted "push" alone is refused
    reg = fake_registry_factory(users={"w": "pw"}, auth="bearer", acl={"w": {"*": "push"}})
    t = token(reg, "repository:a/app:pull,push", auth=("w", "pw")).json()["token"]
    r = requests.post(f"{reg.url}/v2/a/app/blobs/uploads/", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(
        'scope="repository:a/app:pull,push",error="insufficient_scope"'
    )
