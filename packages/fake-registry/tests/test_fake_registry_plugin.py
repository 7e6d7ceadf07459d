"""The pytest plugin, as another project sees it: a throwaway project using the fixtures."""

pytest_plugins = ["pytester"]

EXAMPLE = """
import requests

from fake_registry import File


def test_pull_with_a_fault(fake_registry):
    image = fake_registry.push_image("team/app", "1.0", layers=[{"hello.txt": File("hi")}])
    fake_registry.faults.status(503, r"/manifests/1.0$", method="GET", retry_after=1)

    url = f"{fake_registry.url}/v2/team/app/manifests/1.0"
    first = requests.get(url)
    second = requests.get(url)

    assert (first.status_code, first.headers["Retry-After"]) == (503, "1")
    assert second.headers["Docker-Content-Digest"] == image.digest
    assert fake_registry.requests.summary() == [
        "GET /v2/team/app/manifests/1.0 503",
        "GET /v2/team/app/manifests/1.0 200",
    ]


def test_each_test_starts_empty(fake_registry):
    assert fake_registry.repositories() == []
    assert len(fake_registry.requests) == 0


def test_factory_variant(fake_registry_factory):
    secure = fake_registry_factory(users=["ci:secret"], tls=True)
    r = requests.get(f"{secure.url}/v2/", verify=str(secure.ca_file), auth=("ci", "secret"))
    assert r.status_code == 200
"""


def test_plugin_in_a_throwaway_project(pytester):
    pytester.makepyfile(test_example=EXAMPLE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=3)


def test_readme_pytest_example_as_written(pytester):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [block] = [b for b in re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M) if "def test_" in b]
    pytester.makepyfile(test_readme=block)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
