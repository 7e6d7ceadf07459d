"""The token server of ``integration.token_server`` against registry:2 and beside the fake's own.

What its tokens grant is what the comparisons with the fake registry rest on: the user gets every
action asked for, across several ``scope=`` values; an anonymous request gets a token that
registry:2 refuses (``insufficient_scope``), as the fake registry's token endpoint does; a wrong
password gets 401 and no token from both.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import requests

from fake_registry import FakeRegistryFactory
from integration.servers import RegistryServer


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    document: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return document


def token(realm: str, service: str, scopes: list[str], auth: tuple[str, str] | None) -> requests.Response:
    return requests.get(realm, params={"service": service, "scope": scopes}, auth=auth, timeout=30)


def challenge_error(response: requests.Response) -> str:
    header = response.headers["WWW-Authenticate"]
    return header.rsplit('error="', 1)[1].rstrip('"') if 'error="' in header else ""


def test_a_user_gets_every_action_asked_for_and_registry2_honours_exactly_that(
    bearer_registry: RegistryServer, repo_name: str
) -> None:
    assert bearer_registry.token_realm is not None
    assert bearer_registry.auth is not None
    other = f"{repo_name}-other"
    answer = token(
        bearer_registry.token_realm,
        "test-registry",
        [f"repository:{repo_name}:pull", f"repository:{repo_name}:push repository:{other}:pull"],
        bearer_registry.auth,
    )
    assert answer.status_code == 200
    document = answer.json()
    assert document["token"] == document["access_token"]
    assert document["expires_in"] == 300
    got = claims(document["token"])
    assert (got["iss"], got["sub"], got["aud"]) == (
        "integration-token-server",
        bearer_registry.username,
        "test-registry",
    )
    assert got["exp"] - got["iat"] == 300
    assert got["access"] == [
        {"type": "repository", "name": repo_name, "actions": ["pull", "push"]},
        {"type": "repository", "name": other, "actions": ["pull"]},
    ]
    bearer = {"Authorization": f"Bearer {document['token']}"}
    url = bearer_registry.url
    assert (
        requests.post(f"{url}/v2/{repo_name}/blobs/uploads/", headers=bearer, timeout=30).status_code == 202
    )
    missing = requests.get(f"{url}/v2/{other}/tags/list", headers=bearer, timeout=30)
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "NAME_UNKNOWN")
    refused = requests.post(f"{url}/v2/{other}/blobs/uploads/", headers=bearer, timeout=30)
    assert (refused.status_code, challenge_error(refused)) == (401, "insufficient_scope")


def test_anonymous_and_wrong_password_as_with_the_fake_registry(
    bearer_registry: RegistryServer, fake_registry_factory: FakeRegistryFactory, repo_name: str
) -> None:
    assert bearer_registry.token_realm is not None
    user, password = bearer_registry.username, bearer_registry.password
    assert user is not None
    assert password is not None
    fake = fake_registry_factory(users={user: password}, auth="bearer")
    outcomes = []
    for url, realm, service in (
        (fake.url, f"{fake.url}/token", "fake-registry"),
        (bearer_registry.url, bearer_registry.token_realm, "test-registry"),
    ):
        scopes = [f"repository:{repo_name}:pull,push"]
        anonymous = token(realm, service, scopes, None)
        bearer = {"Authorization": f"Bearer {anonymous.json()['token']}"}
        pull = requests.get(f"{url}/v2/{repo_name}/tags/list", headers=bearer, timeout=30)
        push = requests.post(f"{url}/v2/{repo_name}/blobs/uploads/", headers=bearer, timeout=30)
        wrong = token(realm, service, scopes, (user, "wrong"))
        outcomes.append(
            (
                anonymous.status_code,
                (pull.status_code, challenge_error(pull)),
                (push.status_code, challenge_error(push)),
                (wrong.status_code, "token" in wrong.json(), wrong.json()["errors"][0]["code"]),
            )
        )
    assert (
        outcomes[0]
        == outcomes[1]
        == (
            200,
            (401, "insufficient_scope"),
            (401, "insufficient_scope"),
            (401, False, "UNAUTHORIZED"),
        )
    )
