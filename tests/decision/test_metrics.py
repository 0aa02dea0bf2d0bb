"""CMS-0057-F metrics from plain rows (decision/metrics.py), no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fhirauth.decision.metrics import RequestRow, median, metrics, share

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def row(n: int, **kw: Any) -> RequestRow:
    base: dict[str, Any] = {
        "id": f"a{n}",
        "pre_auth_ref": f"PA{n}",
        "expedited": False,
        "status": "decided",
        "received_at": T0,
        "due_at": T0 + timedelta(days=7),
    }
    return RequestRow(**(base | kw))


def decided(n: int, outcome: str, hours: float = 0, **kw: Any) -> RequestRow:
    return row(n, determined_at=T0 + timedelta(hours=hours), determination=outcome, **kw)


def test_percentages_are_of_the_determined_requests_rounded_half_up_with_their_counts() -> None:
    assert share(1, 8) == {"count": 1, "of": 8, "percent": 12.5}
    assert share(1, 3) == {"count": 1, "of": 3, "percent": 33.3}
    assert share(2, 3) == {"count": 2, "of": 3, "percent": 66.7}
    assert share(1, 16) == {"count": 1, "of": 16, "percent": 6.3}  # 6.25 half up
    assert share(0, 0) == {"count": 0, "of": 0, "percent": None}


def test_the_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones() -> None:
    assert median([Decimal(3), Decimal(1), Decimal(2)]) == 2
    assert median([Decimal(4), Decimal(1), Decimal(2), Decimal(10)]) == 3


def test_each_class_counts_its_own_requests_and_lists_the_undecided_apart() -> None:
    rows = [
        decided(1, "approved", 0),
        decided(2, "denied", 30, appeal_outcome="overturned"),
        decided(3, "partial", 49.5, review_extended=True),
        decided(4, "approved", 100, review_extended=True),
        decided(5, "not-required"),
        row(6, status="pended"),
        row(7, status="cancelled"),
        row(8, status="error"),
        decided(9, "approved", 71, expedited=True),
        decided(10, "denied", 2, expedited=True, open_appeal=(T0, T0 + timedelta(hours=72))),
    ]
    report = metrics(rows, 2026, T0 + timedelta(days=300))
    standard, fast = report["standard"], report["expedited"]
    assert standard["received"] == 8 and standard["determined"] == 4
    assert standard["approved"] == {"count": 2, "of": 4, "percent": 50.0}
    assert standard["partiallyApproved"]["count"] == standard["denied"]["count"] == 1
    assert standard["approvedAfterAppeal"] == {"count": 1, "of": 4, "percent": 25.0}
    assert standard["extendedThenApproved"] == {"count": 1, "of": 4, "percent": 25.0}
    assert standard["reviewExtended"]["count"] == 2
    # (0 + 30 + 49.5 + 100) / 4 = 44.875; median (30 + 49.5) / 2 = 39.75
    assert standard["timeToDecision"] == {"of": 4, "averageHours": 44.9, "medianHours": 39.8}
    assert standard["apart"] == {
        "undecided": [
            {
                "id": "a6",
                "preAuthRef": "PA6",
                "receivedAt": T0.isoformat(),
                "dueAt": (T0 + timedelta(days=7)).isoformat(),
            }
        ],
        "withdrawn": 1,
        "refused": 1,
        "noAuthorizationNeeded": 1,
    }
    assert fast["determined"] == 2 and fast["timeToDecision"]["medianHours"] == 36.5
    assert fast["appeals"]["appealed"] == 1 and fast["appeals"]["open"][0]["id"] == "a10"
    assert fast["approvedAfterAppeal"]["count"] == 0


def test_a_reopened_or_appealed_request_counts_as_determined_not_as_undecided() -> None:
    reopened = decided(1, "approved", 5, status="pended")
    report = metrics([reopened], 2026, T0)["standard"]
    assert report["determined"] == 1 and report["apart"]["undecided"] == []


def test_nothing_determined_gives_no_percentage_and_no_time() -> None:
    report = metrics([row(1, status="pended")], 2026, T0)["expedited"]
    assert report["approved"]["percent"] is None
    assert report["timeToDecision"] == {"of": 0, "averageHours": None, "medianHours": None}
