"""Hostile JSON gets a 400 saying what is wrong, never a 5xx, a hang or a silent reading."""

from __future__ import annotations

import pytest

from fhirauth.errors import Invalid
from fhirauth.fhir.strict_json import MAX_DEPTH, load_json


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"resourceType": "Bundle", "type": "collection", "type": "batch"}', "twice"),
        (b'{"value": NaN}', "NaN"),
        (b'{"value": Infinity}', "Infinity"),
        (b'{"value": ' + b"9" * 5000 + b"}", "characters"),
        (b'{"value": 1.' + b"5" * 500 + b"}", "characters"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a": "\xc3\x28"}', "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (b'{"e":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "nests"),
        (b'{"resourceType": "Bundle",', "not valid JSON"),
    ],
)
def test_hostile_json_is_refused_with_a_reason(body: bytes, says: str) -> None:
    with pytest.raises(Invalid) as caught:
        load_json(body)
    (issue,) = caught.value.issues
    assert says in issue.diagnostics
    assert issue.code == "structure"


def test_ordinary_json_with_a_byte_order_mark_reads_normally() -> None:
    assert load_json('\ufeff{"a": [1, 2.5, "x"]}'.encode()) == {"a": [1, 2.5, "x"]}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    body = b'{"e":' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
    assert isinstance(load_json(body), dict)


@pytest.mark.parametrize(
    "number", [b"1e400", b"-1e400", b"1E309", b"9223372036854775808", b"-9223372036854775809"]
)
def test_numbers_out_of_range_are_refused_rather_than_read_as_infinity(number: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        load_json(b'{"value": ' + number + b"}")
    assert "out of range" in caught.value.issues[0].diagnostics


def test_the_largest_numbers_held_are_read() -> None:
    body = b'{"a": 9223372036854775807, "b": -9223372036854775808, "c": 1e308}'
    assert load_json(body) == {"a": 2**63 - 1, "b": -(2**63), "c": 1e308}
