"""A Notary v1 server subset for content-trust tests (SPEC A.4)."""

__all__: list[str] = []
