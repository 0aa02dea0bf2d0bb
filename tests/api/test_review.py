"""The reviewer workflow over HTTP (/admin/review) and its CMS clocks."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from fhirauth.store.models import ClaimResponseVersion, DecisionEvent
from tests.conftest import EXAMPLES, NOW
from tests.pas import assert_pas_response, review_actions

REVIEWER = {"name": "Dr. Priya Rao", "npi": "1234567893"}


def submit(client: FlaskClient, name: str) -> dict[str, Any]:
    resp = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / name).read_bytes(),
        content_type="application/fhir+json",
    )
    assert resp.status_code == 200
    return resp.get_json()


def decide(client: FlaskClient, ref: str, **body: Any) -> Any:
    return client.post(f"/admin/review/{ref}/decisions", json={"reviewer": REVIEWER, **body})


@pytest.fixture
def pended(client: FlaskClient) -> tuple[str, dict[str, Any]]:
    bundle = submit(client, "mixed-outcomes.json")
    return bundle["entry"][0]["resource"]["preAuthRef"], bundle


def test_the_queue_lists_pended_requests_soonest_due_first(client: FlaskClient) -> None:
    standard = submit(client, "mixed-outcomes.json")["entry"][0]["resource"]["preAuthRef"]
    expedited = submit(client, "pend-mri-brain.json")["entry"][0]["resource"]["preAuthRef"]
    submit(client, "approve-ct-head.json")  # decided: not in the queue
    queue = client.get("/admin/review/queue").get_json()
    assert [c["preAuthRef"] for c in queue["pended"]] == [expedited, standard]
    first, second = queue["pended"]
    assert first["expedited"] and first["dueAt"] == (NOW + timedelta(hours=72)).isoformat()
    assert not second["expedited"] and second["dueAt"] == (NOW + timedelta(days=7)).isoformat()


def test_overdue_shows_what_is_late_or_close_to_it(client: FlaskClient, services: Services) -> None:
    ref = submit(client, "pend-mri-brain.json")["entry"][0]["resource"]["preAuthRef"]
    assert client.get("/admin/review/queue?overdue=1").get_json()["pended"] == []
    services.clock = fixed_clock(NOW + timedelta(hours=60))
    (case,) = client.get("/admin/review/queue?overdue=1").get_json()["pended"]
    assert case["preAuthRef"] == ref and case["urgency"] == "due-soon"
    services.clock = fixed_clock(NOW + timedelta(hours=73))
    (case,) = client.get("/admin/review/queue?overdue=1").get_json()["pended"]
    assert case["urgency"] == "overdue" and case["hoursLeft"] == -1.0


def test_approving_produces_the_next_version_with_the_reviewer_and_same_identifiers(
    client: FlaskClient, services: Services, pended: tuple[str, dict[str, Any]]
) -> None:
    ref, first = pended
    resp = decide(client, ref, item=3, action="approve", period_days=30)
    assert resp.status_code == 200
    bundle = resp.get_json()
    cr, before = bundle["entry"][0]["resource"], first["entry"][0]["resource"]
    assert cr["id"] == before["id"] and cr["identifier"] == before["identifier"]
    assert cr["meta"]["versionId"] == "2"
    assert review_actions(bundle) == {1: "NA", 2: "A1", 3: "A1", 4: "A3"}
    (reviewer,) = [e for e in cr["extension"] if e["url"].endswith("claimResponseReviewer")]
    assert {"url": "wasHumanReviewedFlag", "valueBoolean": True} in reviewer["extension"]
    npi = next(e for e in reviewer["extension"] if e["url"] == "reviewerNPI")
    assert npi["valueIdentifier"]["value"] == REVIEWER["npi"]
    request = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
    assert_pas_response(bundle, request)
    with services.sessions() as session:
        versions = session.scalars(select(ClaimResponseVersion.version)).all()
        assert sorted(versions) == [1, 2]  # the earlier version is kept
        event = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id.desc())).first()
        assert event is not None and event.actor == "reviewer:Dr. Priya Rao"
    queue = client.get("/admin/review/queue").get_json()
    assert queue["pended"] == []
    assert [c["preAuthRef"] for c in queue["undelivered"]] == [ref]


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ({"action": "approve", "quantity": 1}, "A1"),
        ({"action": "modify", "quantity": 1, "reason": "One study authorized"}, "A6"),
        (
            {
                "action": "deny",
                "reason_code": "MN",
                "reason": "Headache without red flags does not "
                "meet the plan's imaging criteria; see guideline RAD-12.",
            },
            "A3",
        ),
        ({"action": "request-info", "documents": ["18748-4"]}, "A4"),
    ],
)
def test_each_decision_kind_gives_its_review_action(
    client: FlaskClient, pended: tuple[str, dict[str, Any]], body: dict[str, Any], action: str
) -> None:
    ref, _ = pended
    resp = decide(client, ref, item=3, **body)
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    assert review_actions(bundle)[3] == action
    if action == "A4":
        requests = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "CommunicationRequest"
        ]
        assert [r["payload"][0]["contentString"] for r in requests] == ["18748-4"]
    if action == "A3":
        cr = bundle["entry"][0]["resource"]
        (item,) = [i for i in cr["item"] if i["itemSequence"] == 3]
        notes = {n["number"]: n["text"] for n in cr["processNote"]}
        assert "RAD-12" in notes[item["noteNumber"][0]]


def test_a_denial_without_a_reason_is_refused(
    client: FlaskClient, pended: tuple[str, dict[str, Any]]
) -> None:
    ref, _ = pended
    resp = decide(client, ref, item=3, action="deny")
    assert resp.status_code == 400
    assert "reason" in resp.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "body",
    [
        {"item": 3, "action": "maybe"},
        {"item": 0, "action": "approve"},
        {"item": 3, "action": "request-info", "documents": ["not-loinc"]},
    ],
)
def test_invalid_decision_payloads_get_400_with_an_operation_outcome(
    client: FlaskClient, pended: tuple[str, dict[str, Any]], body: dict[str, Any]
) -> None:
    ref, _ = pended
    resp = decide(client, ref, **body)
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_a_decision_needs_a_named_reviewer(
    client: FlaskClient, pended: tuple[str, dict[str, Any]]
) -> None:
    ref, _ = pended
    resp = client.post(f"/admin/review/{ref}/decisions", json={"item": 3, "action": "approve"})
    assert resp.status_code == 400


def test_the_case_shows_the_recommendation_for_an_adverse_rule(client: FlaskClient) -> None:
    bundle = submit(client, "recommend-deny-bariatric-minor.json")
    ref = bundle["entry"][0]["resource"]["preAuthRef"]
    case = client.get(f"/admin/review/{ref}").get_json()
    assert case["items"][0]["reviewAction"] == "A4"
    assert case["items"][0]["recommendation"] == "A3"
