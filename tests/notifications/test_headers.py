"""``channel.header`` rules: one line ``Name: value``, an HTTP token for a name, printable
Latin-1 for a value, bounded in size and number, and none of the transport's own headers."""

from __future__ import annotations

import pytest

from fhirauth.notifications import headers


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer eyJhbGciOi.J9-_~+/=",
        "X-Correlation:42",
        "X-Empty:",
        'x-lower-case: value with spaces, commas; and "quotes"',
        "X-Latin-1: caf\u00e9 \u00a0\u00ff",  # Latin-1 beyond ASCII is allowed
        "X-Max: " + "a" * (headers.MAX_BYTES - len("X-Max: ")),
        "User-Agent: ehr-harness",  # not one that frames the message
    ],
)
def test_headers_that_may_be_sent(line: str) -> None:
    assert headers.problem(line) is None


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("Bearer abc", "invalid"),  # no name
        (": abc", "invalid"),
        ("X Y: abc", "invalid"),  # a name is a token
        ("X(Y): abc", "invalid"),
        ("X-\u00e9: abc", "invalid"),
        ("X-A: 1\r\nX-Injected: 2", "invalid"),
        ("X-A: 1\nX-Injected: 2", "invalid"),
        ("X-A: 1\r", "invalid"),
        ("X-A: a\x00b", "invalid"),
        ("X-A: a\tb", "invalid"),
        ("X-A: a\x7fb", "invalid"),
        ("X-A: a\x85b", "invalid"),  # C1 control (NEL)
        ("X-A: \u201cquoted\u201d", "invalid"),  # not Latin-1
        ("X-A: \U0001f600", "invalid"),
        ("X-A: " + "a" * headers.MAX_BYTES, "too-long"),
        ("Content-Type: text/plain", "not-supported"),
        ("content-length: 0", "not-supported"),
        ("HOST: evil.example", "not-supported"),
        ("Transfer-Encoding: chunked", "not-supported"),
        ("Connection: close", "not-supported"),
        ("Content-Encoding: gzip", "not-supported"),
        (42, "invalid"),
        (None, "invalid"),
    ],
)
def test_headers_that_may_not(line: object, code: str) -> None:
    found = headers.problem(line)
    assert found is not None and found[0] == code
    value = line.partition(":")[2].strip() if isinstance(line, str) else ""
    if len(value) > 3:
        assert value not in found[1]  # values (often secrets) are never quoted


def test_problems_point_at_each_entry_and_count_them() -> None:
    lines = [f"X-H{i}: {i}" for i in range(headers.MAX_COUNT)]
    assert headers.problems(lines) == []
    lines[3] = "X-H3: a\r\nb"
    lines.append("Host: x")
    found = headers.problems(lines)
    assert [(p.index, p.code) for p in found] == [
        (3, "invalid"),
        (10, "not-supported"),
        (10, "too-costly"),
    ]


def test_pairs_and_normalized() -> None:
    assert headers.pairs(["Authorization:  Bearer x ", "X-A:b"]) == [
        ("Authorization", "Bearer x"),
        ("X-A", "b"),
    ]
    assert headers.normalized(" X-A :  b ") == "X-A: b"
