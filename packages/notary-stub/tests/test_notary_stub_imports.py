"""The package installs and its public API imports."""

import importlib


def test_notary_stub_public_api_imports() -> None:
    module = importlib.import_module("notary_stub")

    assert [name for name in module.__all__ if not hasattr(module, name)] == []
