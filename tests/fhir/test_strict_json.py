"""Hostile JSON gets a 400 saying what is wrong, never a 5xx, a hang or a silent reading."""

from __future__ import annotations

import pytest

from fhirauth.errors import Invalid
from fhirauth.fhir.strict_json import MAX_DEPTH, load_json
from tests.conftest import EXAMPLES


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


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "a": 2}',
        b'{"value": NaN}',
        b'{"value": 9223372036854775808}',
        b'{"value": 1.' + b"5" * 50 + b"}",
    ],
)
def test_a_body_refused_once_is_refused_every_time_it_is_sent(body: bytes) -> None:
    for _ in range(3):
        with pytest.raises(Invalid):
            load_json(body)


@pytest.mark.parametrize(
    "body",
    [
        '\ufeff{"a": [1, -0, 2.5, 1e308, 0.1, "\\u00e9\\ud83d\\ude00"], "b": null}'.encode(),
        b'{"lone": "\\ud800", "n": 9223372036854775807}',
        (EXAMPLES / "mixed-outcomes.json").read_bytes(),
    ],
)
def test_a_body_read_before_reads_the_same_again(body: bytes) -> None:
    """Bytes read once are read faster the next time (fhir/strict_json.py): the value is the
    one the strict reading gives, whichever reader gives it."""
    first = load_json(body)
    assert load_json(body) == first
    assert load_json(body) == first
    assert repr(load_json(body)) == repr(first)  # 0 stays an int, 2.5 a float
