"""The dashboard's figures (fhirauth/operations/dashboard.py): requests built through HTTP
($submit of the examples, reviewers' decisions through /admin/review, an update that cancels,
an appeal) at known times (tests/desk.py); the counts equal what the test made and what the
store says."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.operations import dashboard as dash
from fhirauth.operations.review import running_clock
from fhirauth.services import Services
from fhirauth.store.models import Appeal, Authorization
from tests.conftest import NOW
from tests.desk import D, Desk, build


@pytest.fixture
def desk(client: FlaskClient, services: Services) -> Desk:
    return Desk(client, services)


def test_requests_are_counted_by_outcome_today_and_over_the_seven_days_ending_now(
    desk: Desk, services: Services
) -> None:
    build(desk)
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
    assert board.today.counts == {
        "approved": 1,
        "partial": 0,
        "denied": 1,
        "pended": 1,
        "not-required": 1,
        "withdrawn": 1,
        "error": 1,
    }
    assert board.today.total == 6
    # The week adds the late, soon, appealed (denied, whatever its appeal), knee, mixed
    # (partial) and fast (approved) requests; the one of 8 days ago is not in it.
    assert board.week.counts == {
        "approved": 2,
        "partial": 1,
        "denied": 2,
        "pended": 4,
        "not-required": 1,
        "withdrawn": 1,
        "error": 1,
    }
    assert board.week.start == NOW - 7 * D and board.today.start == NOW.replace(hour=0, minute=0)


def test_outcome_counts_equal_a_direct_reading_of_the_store(desk: Desk, services: Services) -> None:
    build(desk)
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
        rows = session.execute(
            select(Authorization.status, Authorization.determination).where(
                Authorization.received_at >= NOW - 7 * D
            )
        ).all()
    direct = Counter(dash.outcome_of(status, determination) for status, determination in rows)
    assert board.week.counts == {o: direct.get(o, 0) for o in dash.OUTCOMES}
    assert sum(direct.values()) == board.week.total == 12


def test_pended_requests_fall_in_buckets_by_the_clock_they_run_on(
    desk: Desk, services: Services
) -> None:
    made = build(desk)
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
        pended = session.execute(
            select(Authorization, Appeal)
            .outerjoin(
                Appeal, (Appeal.authorization_id == Authorization.id) & Appeal.decided_at.is_(None)
            )
            .where(Authorization.status == "pended")
        ).all()
        by_store = Counter(dash.due_bucket(running_clock(a, p)[1], NOW) for a, p in pended)
    # late is overdue; soon and the appeal (its own 72 hours, not the request's 7 days) are
    # due within 24 h; early within 72 h; the knee later.
    assert board.pended.counts == {"overdue": 1, "due-24h": 2, "due-72h": 1, "later": 1}
    assert board.pended.counts == {b: by_store.get(b, 0) for b in dash.DUE_BUCKETS}
    assert board.pended.overdue == 1 and board.pended.total == 5
    soonest = [c["preAuthRef"] for c in board.pended.soonest]
    assert soonest == [made["late"], made["appealed"], made["soon"], made["early"], made["knee"]]
    assert board.pended.soonest[0]["urgency"] == "overdue"
    assert board.pended.soonest[1]["appeal"] is not None


def test_the_soonest_list_is_cut_at_the_length_asked(desk: Desk, services: Services) -> None:
    made = build(desk)
    with services.sessions() as session:
        cut = dash.pended(session, NOW, soonest=2)
    assert [c["preAuthRef"] for c in cut.soonest] == [made["late"], made["appealed"]]
    assert cut.total == 5


def test_a_case_with_no_due_time_stored_is_bucketed_by_its_cms_clock(
    desk: Desk, services: Services
) -> None:
    _, ref = desk.submit("pend-knee-needs-note.json", NOW - 8 * D)
    with services.sessions.begin() as session:
        session.scalars(
            select(Authorization).where(Authorization.pre_auth_ref == ref)
        ).one().due_at = None
    with services.sessions() as session:
        board = dash.pended(session, NOW)
    # Received 8 days ago, standard: its 7 days have run out.
    assert board.counts["overdue"] == 1 and board.soonest[0]["preAuthRef"] == ref


def test_decision_times_are_the_median_and_90th_percentile_of_the_last_30_days(
    desk: Desk, services: Services
) -> None:
    build(desk)
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
    # Standard, determined in the window: old (0 h), appealed (0 h), mixed (23 h), ct (0 h),
    # denied (0 h); not-required, refused and withdrawn requests are not timed.
    assert board.standard == dash.DecisionTimes(False, 5, 0.0, 23.0)
    # Expedited: only fast (10 h) has been determined.
    assert board.expedited == dash.DecisionTimes(True, 1, 10.0, 10.0)
    with services.sessions() as session:
        later = dash.dashboard(session, NOW + 29 * D)
    # 29 days on, old and appealed (determined 8 and 4 days before NOW) have left the window.
    assert later.standard.count == 3 and later.times_since == NOW - 1 * D


def test_an_empty_store_shows_zero_everywhere_and_no_times(services: Services) -> None:
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
    assert board.week.total == 0 and board.pended.total == 0 and board.pended.soonest == []
    assert board.standard == dash.DecisionTimes(False, 0, None, None)
    assert board.expedited.label == "expedited" and board.expedited.median_hours is None


@pytest.mark.parametrize(
    ("values", "p90"),
    [([1], 1), ([1, 2], 2), (list(range(1, 11)), 9), (list(range(1, 12)), 10), ([5, 1, 3], 5)],
)
def test_the_90th_percentile_is_the_nearest_rank(values: list[int], p90: int) -> None:
    assert dash.percentile([Decimal(v) for v in values], 90) == p90


def test_outcomes_follow_the_determination_then_the_status() -> None:
    assert dash.outcome_of("pended", "denied") == "denied"  # under appeal: still its outcome
    assert dash.outcome_of("pended", None) == "pended"
    assert dash.outcome_of("error", None) == "error"
    assert dash.outcome_of("cancelled", None) == "withdrawn"
    assert dash.outcome_of("cancelled", "approved") == "approved"
    assert dash.outcome_of("decided", "not-required") == "not-required"
