"""Concourse registry-image resource: ``check``, ``in`` and ``out`` for OCI/Docker registries."""

__all__ = ["__version__"]

__version__ = "0.1.0"
