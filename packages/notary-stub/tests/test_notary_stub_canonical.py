"""Canonical JSON matches github.com/docker/go/canonical/json byte for byte."""

import pytest

from notary_stub import canonical_json
from notary_stub._canonical import CanonicalJSONError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, False, None]}, b'{"a":[true,false,null],"b":1}'),
        ({"z": {"y": "x", "a": 2.0}}, b'{"z":{"a":2,"y":"x"}}'),
        ('quote " and backslash \\', b'"quote \\" and backslash \\\\"'),
        ("<&> stay raw", b'"<&> stay raw"'),
        ("tab\tnewline\ncontrol\x01", b'"tab\tnewline\ncontrol\x01"'),
        ("h\u00e9\u2028", '"h\u00e9\u2028"'.encode()),
        ({"\u00e9": 1, "z": 2, "A": 3}, '{"A":3,"z":2,"\u00e9":1}'.encode()),
        ([], b"[]"),
        ({}, b"{}"),
        (-12, b"-12"),
    ],
)
def test_canonical_json_encodes_like_notary(value, expected):
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [1.5, float("nan"), {1: "x"}, b"raw"])
def test_canonical_json_refuses_what_notary_refuses(value):
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)
