"""CMS-0057-F clocks: 72 hours expedited, 7 calendar days standard, from receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fhirauth.decision.clocks import due_at, extended_due, urgency

RECEIVED = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def test_an_expedited_request_is_due_72_hours_after_receipt() -> None:
    assert due_at(RECEIVED, True) == datetime(2026, 12, 4, 15, 30, tzinfo=UTC)


def test_a_standard_request_is_due_7_calendar_days_after_receipt() -> None:
    assert due_at(RECEIVED, False) == datetime(2026, 12, 8, 15, 30, tzinfo=UTC)


def test_urgency_is_on_time_then_due_soon_then_overdue() -> None:
    due = due_at(RECEIVED, True)
    assert urgency(RECEIVED, due, RECEIVED + timedelta(hours=1)) == "on-time"
    assert urgency(RECEIVED, due, due - timedelta(hours=18)) == "due-soon"
    assert urgency(RECEIVED, due, due - timedelta(hours=19)) == "on-time"
    assert urgency(RECEIVED, due, due) == "overdue"


def test_a_review_is_extended_by_up_to_14_days_in_all_past_its_window() -> None:
    due = due_at(RECEIVED, False)
    once = extended_due(RECEIVED, False, due, 10)
    assert once == due + timedelta(days=10)
    assert extended_due(RECEIVED, False, once, 4) == due + timedelta(days=14)
    with pytest.raises(ValueError, match="4 more day"):
        extended_due(RECEIVED, False, once, 5)
    with pytest.raises(ValueError, match="extended fully"):
        extended_due(RECEIVED, False, due + timedelta(days=14), 1)


def test_an_expedited_review_is_extended_from_its_72_hours() -> None:
    due = due_at(RECEIVED, True)
    assert extended_due(RECEIVED, True, due, 14) == RECEIVED + timedelta(days=17)
