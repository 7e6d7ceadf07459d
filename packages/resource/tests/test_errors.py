"""The error hierarchy's own behaviour: wrapping and rewording make new errors."""

from __future__ import annotations

from registry_image_resource.errors import NotFoundError


def test_wrap_returns_a_new_error_of_the_same_type_and_fields() -> None:
    caught = NotFoundError("manifest unknown", status=404, code="MANIFEST_UNKNOWN", detail="d")
    wrapped = caught.wrap("get remote image")
    assert (type(wrapped), str(wrapped), wrapped.args, wrapped.status, wrapped.code, wrapped.detail) == (
        NotFoundError,
        "get remote image: manifest unknown",
        ("get remote image: manifest unknown",),
        404,
        "MANIFEST_UNKNOWN",
        "d",
    )


def test_wrap_leaves_the_caught_error_as_it_was() -> None:
    caught = NotFoundError("manifest unknown", status=404)
    caught.wrap("get remote image")
    assert (str(caught), caught.args) == ("manifest unknown", ("manifest unknown",))
