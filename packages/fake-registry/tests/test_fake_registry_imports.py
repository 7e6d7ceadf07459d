"""The package installs and its public API and pytest plugin import."""

import importlib


def test_fake_registry_public_api_imports() -> None:
    module = importlib.import_module("fake_registry")

    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def test_fake_registry_pytest_plugin_imports() -> None:
    assert importlib.import_module("fake_registry.pytest_plugin").__name__ == "fake_registry.pytest_plugin"
