"""What the CMS metrics count: a request's determination and an appeal's outcome, from review
actions (decision/outcomes.py)."""

from __future__ import annotations

import pytest

from fhirauth.decision.outcomes import appeal_outcome, determination, item_outcome


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["A1"], "approved"),
        (["A1", "NA", "C"], "approved"),  # no-auth and withdrawn items do not count
        (["A3", "A3"], "denied"),
        (["A2"], "partial"),
        (["A6"], "partial"),
        (["A1", "A3"], "partial"),  # partly denied
        (["NA"], "not-required"),
        (["C", "C"], None),  # all withdrawn: no determination
        ([], None),
    ],
)
def test_a_requests_determination(actions: list[str], expected: str | None) -> None:
    assert determination(actions) == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("A1", "overturned"),
        ("A2", "partially-overturned"),
        ("A6", "partially-overturned"),
        ("A3", "upheld"),
        ("C", "withdrawn"),
        ("A4", None),
    ],
)
def test_what_became_of_a_denied_item_on_appeal(action: str, expected: str | None) -> None:
    assert item_outcome(action) == expected


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["overturned", "overturned"], "overturned"),
        (["upheld"], "upheld"),
        (["overturned", "upheld"], "partially-overturned"),
        (["partially-overturned"], "partially-overturned"),
        (["overturned", "withdrawn"], "overturned"),  # what was withdrawn does not count
        (["withdrawn"], "withdrawn"),
    ],
)
def test_an_appeals_outcome(items: list[str], expected: str) -> None:
    assert appeal_outcome(items) == expected
