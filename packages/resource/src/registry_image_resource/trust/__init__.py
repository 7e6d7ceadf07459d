"""Content trust: sign pushed tags with Notary (SPEC B.5.8, A.2.7).

``sign_tags`` is what ``put`` calls after a successful push. It imports the signing code (and
with it ``cryptography``) only when called, so importing this package costs nothing for
pipelines without ``content_trust``. Every failure becomes one ``ResourceError`` line that says
the image was already pushed: ``image pushed as <digest>, but signing failed: <reason>``.
"""

from __future__ import annotations

from registry_image_resource.errors import ResourceError
from registry_image_resource.protocol.models import Source
from registry_image_resource.registry.reference import Repository

__all__ = ["sign_tags"]


def sign_tags(source: Source, repository: Repository, tags: list[str], digest: str, size: int) -> None:
    """Sign each of ``tags`` as the manifest ``digest`` of ``size`` bytes, if ``content_trust`` is set.

    For a multi-arch push, ``digest``/``size`` are the pushed index's (SPEC A.2.7).
    """
    if source.content_trust is None or not tags:
        return
    try:
        from registry_image_resource.trust.sign import sign

        sign(source, repository, tags, digest, size)
    except ResourceError as err:
        raise err.wrap(f"image pushed as {digest}, but signing failed") from None
