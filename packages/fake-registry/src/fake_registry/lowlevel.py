"""Helpers below what most tests need: single layers and tarballs, blob directories, the auth
configuration object, and the control API's JSON image descriptions.

``build_layer(files, "zstd")`` builds one layer blob (:class:`Layer`) from a dict of entries,
``tar_bytes(files)`` just the tar, ``decompress(layer)`` gives a layer's tar back;
``write_blobs(item, dir)`` writes the ``blobs/sha256/`` of an image or index; ``image_from_json``
builds an image from the JSON the control API takes (``POST /_fake/images``). ``parse_users`` and
``masked_headers`` are how the fake registry reads its ``users`` argument and masks secrets in
its request log; the Notary stub uses them too, so both stubs follow one convention.
"""

from fake_registry._auth import AuthConfig, parse_users
from fake_registry._control import CONTROL_PREFIX, image_from_json
from fake_registry._faults import masked_headers
from fake_registry._image import Layer, build_layer, decompress, tar_bytes
from fake_registry._upload import write_blobs

__all__ = [
    "CONTROL_PREFIX",
    "AuthConfig",
    "Layer",
    "build_layer",
    "decompress",
    "image_from_json",
    "masked_headers",
    "parse_users",
    "tar_bytes",
    "write_blobs",
]
