"""Hostile JSON gets a 400 saying what is wrong, never a 5xx, a hang or a silent reading."""

from __future__ import annotations

import pytest

from fhirauth.errors import Invalid
from fhirauth.fhir.strict_json import MAX_ARRAY, MAX_DEPTH, load_json


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
        (b"[" + b"0," * MAX_ARRAY + b"0]", "array"),
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
