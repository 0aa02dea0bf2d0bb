"""The case page's content (operations/casefile.py): who and what the request is about, each item
with its codes and decision trace, the versions, documents, notifications and audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from fhirauth.clock import fixed_clock
from fhirauth.errors import NotFound
from fhirauth.fhir.display import Code
from fhirauth.operations.casefile import casefile
from fhirauth.operations.casefile_history import document
from fhirauth.services import Services
from tests.api.test_attachments import attachment, member_of, note, post_attachment, tracking_of
from tests.cases import (
    MIXED,
    MRI,
    RIVERBEND_NPI,
    ask_for_imaging,
    imaging_report,
    load,
    pend,
    ref_of,
    submit,
)
from tests.conftest import NOW
from tests.notifications.helpers import subscription
from tests.updates import update_of

CPT = "http://www.ama-assn.org/go/cpt"
MODIFIER = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "26"}]}


def case_of(services: Services, auth: str) -> Any:
    with services.sessions() as session:
        return casefile(session, auth, services.clock())


def test_the_case_names_the_patient_coverage_and_provider_from_the_latest_submission(
    client: FlaskClient, services: Services
) -> None:
    auth = pend(client, services, MIXED)
    case = case_of(services, auth)
    assert case.id == auth and case.status == "pended" and not case.expedited
    assert case.left == "7 d left" and case.urgency == "on-time"
    assert (case.patient.name, case.patient.birth_date, case.patient.member_id) == (
        "Jonah Elias Whitaker",
        "1986-04-11",
        "DHP619374420",
    )
    assert case.coverage.payer == "Demo Health Plan"
    assert case.coverage.member_id == "DHP619374420"
    assert case.coverage.plan == "Demo Health Plan Choice PPO (DHP-PPO-2026)"
    assert case.provider.name == "Riverbend Multispecialty Clinic"
    assert f"http://hl7.org/fhir/sid/us-npi|{RIVERBEND_NPI}" in case.provider.identifiers


def test_each_item_has_its_codes_request_and_the_trace_of_the_rule_that_applied(
    client: FlaskClient, services: Services
) -> None:
    request = load(MIXED)
    request["entry"][0]["resource"]["item"][2]["modifier"] = [MODIFIER]
    auth = pend(client, services, request)
    items = {i.sequence: i for i in case_of(services, auth).items}
    assert [i.review_action for i in items.values()] == ["NA", "A1", "A4", "A3"]
    mri = items[3]
    assert mri.pended and mri.codes == (
        Code(f"{CPT}|70551", "MRI brain (including brain stem) without contrast material"),
    )
    assert mri.modifiers == (Code(f"{CPT}|26"),)
    assert mri.quantity == "1 unit" and mri.requested == "2026-12-16 to 2027-01-15"
    assert mri.place == "On Campus-Outpatient Hospital" and mri.category == "MRI/CAT Scan"
    (event,) = mri.events
    assert event.rule == "mri-brain" and event.action == "A4" and event.actor == "rule:mri-brain"
    assert event.why == "approval criteria not met; a reviewer decides"
    (step,) = event.steps
    assert step["step"] == "approve" and step["met"] is False
    denied = items[4]
    assert denied.reason_code == "NC" and denied.action_label == "Not Certified"
    assert denied.events[0].rule == "cosmetic-hair-transplant"


def test_a_reviewers_decision_is_a_version_an_event_a_notification_and_an_audit_row(
    client: FlaskClient, services: Services
) -> None:
    made = client.post(
        "/fhir/Subscription",
        json=subscription(
            "https://ehr.example.org/pas/notify", filters=(f"org-identifier={RIVERBEND_NPI}",)
        ),
    )
    assert made.status_code == 201, made.get_json()
    answer = submit(client, MIXED)
    ref = ref_of(answer)
    decided = client.post(
        f"/admin/review/{ref}/decisions", json={"item": 3, "action": "approve", "period_days": 30}
    )
    assert decided.status_code == 200, decided.get_json()
    case = case_of(services, ref)  # by preAuthRef as well as by id
    assert case.status == "decided"
    item = next(i for i in case.items if i.sequence == 3)
    assert [e.action for e in item.events] == ["A4", "A1"]
    assert item.events[-1].actor == "reviewer:anonymous"
    assert item.authorized == "2026-12-16 to 2027-01-14"
    assert [(s.kind, s.received_at) for s in case.submissions] == [("initial", NOW)]
    assert [(v.version, v.kind, v.actions[3]) for v in case.versions] == [
        (1, "initial", "A4"),
        (2, None, "A1"),
    ]
    # A pended answer is not notified: the decision is, to the subscription that matches.
    (sent,) = [n for n in case.notifications if n.kind == "event-notification"]
    assert sent.status == "pending" and sent.attempts == 0 and sent.at == NOW
    assert sent.endpoint == "https://ehr.example.org/pas/notify"
    assert sent.subscription_status == "requested" and sent.delivered_at is None
    trail = [(a.method, a.route, a.status) for a in case.audit]
    assert trail == [
        ("POST", "/admin/review/<key>/decisions", 200),
        ("POST", "/fhir/Claim/$submit", 200),
    ]


def test_an_update_is_a_version_of_the_request(client: FlaskClient, services: Services) -> None:
    request = load(MRI)
    auth = pend(client, services, request)
    submit(client, update_of(request, 1))
    case = case_of(services, auth)
    assert [s.kind for s in case.submissions] == ["initial", "update"]
    assert [v.kind for v in case.versions] == ["initial", "update"]


def test_documents_received_are_listed_and_each_can_be_fetched(
    client: FlaskClient, services: Services
) -> None:
    request = load(MRI)
    answer = submit(client, request)
    ref = ref_of(answer)
    asked = ask_for_imaging(client, ref)
    html = imaging_report(b"<p>MRI report</p><script>alert(1)</script>", "text/html; charset=utf-8")
    for minutes, doc in ((10, note("18748-4")), (20, html)):
        services.clock = fixed_clock(NOW + timedelta(minutes=minutes))
        resp = post_attachment(client, attachment(tracking_of(asked), member_of(request), doc))
        assert resp.status_code == 200, resp.get_json()
    case = case_of(services, ref)
    assert [(d.number, d.item_sequence, d.code, d.content_type) for d in case.documents] == [
        (1, 1, "18748-4", "text/plain"),
        (2, 1, "18748-4", "text/html"),
    ]
    # A type given only as a code is named by the LOINC name the reviewer asked with.
    assert {d.title for d in case.documents} == {"Diagnostic imaging study"}
    assert case.documentation_received_at == NOW + timedelta(minutes=20)
    with services.sessions() as session:
        first = document(session, case.id, 1)
        assert first.content_type == "text/plain"
        assert first.content == b"Right knee OA, failed 6 months of PT and NSAIDs."
        assert document(session, case.id, 2).content.startswith(b"<p>MRI report</p>")
        with pytest.raises(NotFound):
            document(session, case.id, 3)


def test_an_unknown_case_is_not_found(services: Services) -> None:
    with services.sessions() as session, pytest.raises(NotFound):
        casefile(session, "0" * 32, NOW)


def test_a_practitioner_role_as_provider_is_named_by_practitioner_and_organization(
    client: FlaskClient, services: Services
) -> None:
    request = load(MRI)
    request["entry"][0]["resource"]["provider"] = {"reference": "PractitionerRole/adeyemi-at-nsna"}
    case = case_of(services, pend(client, services, request))
    assert case.provider.kind == "PractitionerRole"
    assert case.provider.name == "Dr. Samuel O. Adeyemi MD, North Shore Neurology Associates"
