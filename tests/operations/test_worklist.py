"""The console's review queue (operations/worklist.py): pended requests soonest due first, under
the clock each runs on, filtered by expedited, service, provider and reviewer."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from fhirauth.clock import fixed_clock
from fhirauth.operations.worklist import UNASSIGNED, Filters, remaining, worklist
from fhirauth.services import Services
from tests.cases import KNEE, MIXED, MRI, RIVERBEND_NPI, assign, load, pend, ref_of, submit
from tests.conftest import NOW
from tests.updates import appeal_of


def rows(services: Services, filters: Filters | None = None) -> list[str]:
    with services.sessions() as session:
        return [r.id for r in worklist(session, services.clock(), filters).rows]


def test_the_time_remaining_reads_as_a_phrase() -> None:
    assert remaining(NOW + timedelta(hours=5, minutes=12), NOW) == "5 h 12 min left"
    assert remaining(NOW + timedelta(minutes=40), NOW) == "40 min left"
    assert remaining(NOW + timedelta(days=6, hours=23, seconds=59), NOW) == "6 d 23 h left"
    assert remaining(NOW + timedelta(days=7), NOW) == "7 d left"
    assert remaining(NOW - timedelta(hours=3), NOW) == "overdue by 3 h"
    assert remaining(NOW - timedelta(hours=1, minutes=30), NOW) == "overdue by 1 h 30 min"
    assert remaining(NOW, NOW) == "due now"


def test_pended_requests_come_soonest_due_first_with_what_a_reviewer_picks_by(
    client: FlaskClient, services: Services
) -> None:
    standard = pend(client, services, MIXED)
    expedited = pend(client, services, MRI)
    submit(client, "approve-ct-head.json")  # decided: not in the queue
    with services.sessions() as session:
        found = worklist(session, NOW)
    assert [r.id for r in found.rows] == [expedited, standard] and found.total == 2
    first, second = found.rows
    assert first.expedited and first.due == NOW + timedelta(hours=72)
    assert first.left == "3 d left" and first.urgency == "on-time" and not first.overdue
    assert first.services == ("http://www.ama-assn.org/go/cpt|70553",)
    assert first.provider_name == "North Shore Neurology Associates"
    assert first.provider == "http://hl7.org/fhir/sid/us-npi|1752039689"
    assert not second.expedited and second.due == NOW + timedelta(days=7)
    # Only the pended item of four is pending.
    assert second.services == ("http://www.ama-assn.org/go/cpt|70551",)
    assert second.provider_name == "Riverbend Multispecialty Clinic"
    assert second.assigned_to is None and not second.appeal
    assert found.services == [
        "http://www.ama-assn.org/go/cpt|70551",
        "http://www.ama-assn.org/go/cpt|70553",
    ]
    assert [label for _, label in found.providers] == [
        "North Shore Neurology Associates (1752039689)",
        f"Riverbend Multispecialty Clinic ({RIVERBEND_NPI})",
    ]


def test_an_overdue_case_says_by_how_much(client: FlaskClient, services: Services) -> None:
    pend(client, services, MRI)
    services.clock = fixed_clock(NOW + timedelta(hours=75, minutes=5))
    with services.sessions() as session:
        (row,) = worklist(session, services.clock()).rows
    assert row.overdue and row.left == "overdue by 3 h 5 min"


def test_each_filter_narrows_the_queue(client: FlaskClient, services: Services) -> None:
    mixed = pend(client, services, MIXED)
    mri = pend(client, services, MRI)
    knee = pend(client, services, KNEE)
    assign(services, knee, "rita")
    assert sorted(rows(services)) == sorted([mixed, mri, knee])
    assert rows(services, Filters(expedited=True)) == [mri]
    assert rows(services, Filters(service="70551")) == [mixed]
    assert rows(services, Filters(service="http://www.ama-assn.org/go/cpt|27447")) == [knee]
    assert rows(services, Filters(service="99213")) == []  # not pending: no authorization needed
    assert rows(services, Filters(provider=RIVERBEND_NPI)) == [mixed]
    assert rows(services, Filters(provider=f"http://hl7.org/fhir/sid/us-npi|{RIVERBEND_NPI}")) == [
        mixed
    ]
    assert rows(services, Filters(reviewer="rita")) == [knee]
    assert sorted(rows(services, Filters(reviewer=UNASSIGNED))) == sorted([mixed, mri])
    assert rows(services, Filters(expedited=True, reviewer="rita")) == []
    with services.sessions() as session:
        found = worklist(session, NOW, Filters(reviewer="rita"))
    # The filters' choices come from the whole queue, not from what is shown.
    assert found.total == 3 and found.reviewers == ["rita"] and len(found.providers) == 3


def test_an_open_appeal_is_in_the_queue_under_the_appeals_clock(
    client: FlaskClient, services: Services
) -> None:
    request = load("deny-cosmetic-hair-transplant.json")
    answer = submit(client, request)
    assert rows(services) == []  # denied by a rule: nobody's to decide
    services.clock = fixed_clock(NOW + timedelta(days=3))
    submit(client, appeal_of(request, 1))
    with services.sessions() as session:
        (row,) = worklist(session, services.clock()).rows
    assert row.pre_auth_ref == ref_of(answer) and row.appeal
    assert row.received == NOW + timedelta(days=3) and row.due == NOW + timedelta(days=10)
    assert row.left == "7 d left"
