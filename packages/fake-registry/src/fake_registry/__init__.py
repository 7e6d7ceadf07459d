"""A fake OCI distribution registry for tests (SPEC A.3)."""

__all__: list[str] = []
