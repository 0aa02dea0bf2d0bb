"""The reviewer workflow over HTTP (/admin/review) and its CMS clocks."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.auth.scopes import ADMIN_SCOPE
from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from fhirauth.store.models import ClaimResponseVersion, DecisionEvent
from tests.auth.helpers import Register, TokenFor, bearer
from tests.conftest import EXAMPLES, NOW
from tests.notifications.helpers import subscription
from tests.pas import assert_pas_response, review_actions

pytest_plugins = ("tests.auth.fixtures",)

REVIEWER = {"npi": "1234567893"}  # who decides is the caller; the body gives only the NPI


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
        # Authentication is off in these tests: the reviewer is the anonymous principal.
        assert event is not None and event.actor == "reviewer:anonymous"
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
        # A line break after a pattern's end used to pass (``$``); PostgreSQL refused a NUL
        # with a 500.
        {"item": 3, "action": "request-info", "documents": ["11506-3\n"]},
        {"item": 3, "action": "approve", "reviewer": {"npi": "1922067835\n"}},
        {"item": 3, "action": "deny", "reason_code": "NC\n", "reason": "Not covered"},
        {"item": 3, "action": "deny", "reason_code": "NC", "reason": "Not\u0000covered"},
    ],
)
def test_invalid_decision_payloads_get_400_with_an_operation_outcome(
    client: FlaskClient, pended: tuple[str, dict[str, Any]], body: dict[str, Any]
) -> None:
    ref, _ = pended
    resp = decide(client, ref, **body)
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_a_reviewer_name_in_the_body_is_refused_the_reviewer_is_the_caller(
    client: FlaskClient, pended: tuple[str, dict[str, Any]]
) -> None:
    ref, _ = pended
    body = {"item": 3, "action": "approve", "reviewer": {"name": "Dr. Priya Rao"}}
    resp = client.post(f"/admin/review/{ref}/decisions", json=body)
    assert resp.status_code == 400
    (issue,) = resp.get_json()["issue"]
    assert issue["expression"] == ["reviewer.name"] and "access token" in issue["diagnostics"]
    resp = client.post(f"/admin/review/{ref}/decisions", json=body | {"reviewer": {}})
    assert resp.status_code == 200


def test_the_case_shows_the_recommendation_for_an_adverse_rule(client: FlaskClient) -> None:
    bundle = submit(client, "recommend-deny-bariatric-minor.json")
    ref = bundle["entry"][0]["resource"]["preAuthRef"]
    case = client.get(f"/admin/review/{ref}").get_json()
    assert case["items"][0]["reviewAction"] == "A4"
    assert case["items"][0]["recommendation"] == "A3"


# Issue 11: a decision only where one belongs; changing a final one is an audited reopen.


def reopen(client: FlaskClient, ref: str, **body: Any) -> Any:
    return client.post(f"/admin/review/{ref}/reopen", json=body)


def versions(services: Services) -> list[int]:
    with services.sessions() as session:
        return sorted(session.scalars(select(ClaimResponseVersion.version)).all())


@pytest.mark.parametrize(("item", "action"), [(1, "NA"), (2, "A1"), (4, "A3")])
def test_a_final_item_is_not_decided_and_the_answer_points_at_reopen(
    client: FlaskClient,
    services: Services,
    pended: tuple[str, dict[str, Any]],
    item: int,
    action: str,
) -> None:
    ref, _ = pended
    for body in ({"action": "approve"}, {"action": "deny", "reason_code": "MN", "reason": "No."}):
        resp = decide(client, ref, item=item, **body)
        assert resp.status_code == 409
        (issue,) = resp.get_json()["issue"]
        assert issue["code"] == "business-rule" and issue["expression"] == ["item"]
        assert f"final ({action}" in issue["diagnostics"]
        assert f"/admin/review/{ref}/reopen" in issue["diagnostics"]
    assert versions(services) == [1]


def test_reopening_puts_a_final_item_back_to_pended_audited_and_notified(
    client: FlaskClient, services: Services, pended: tuple[str, dict[str, Any]]
) -> None:
    from fhirauth.store.models import AuditRecord, Authorization, OutboxEvent

    ref, first = pended
    made = client.post(
        "/fhir/Subscription",
        json=subscription(
            "https://ehr.example.org/pas/notify", filters=("org-identifier=1268135906",)
        ),
    )
    assert made.status_code == 201, made.get_json()
    resp = reopen(client, ref, item=2, reason="Appeal received: the approval is reconsidered")
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    cr = bundle["entry"][0]["resource"]
    assert cr["id"] == first["entry"][0]["resource"]["id"] and cr["meta"]["versionId"] == "2"
    assert review_actions(bundle) == {1: "NA", 2: "A4", 3: "A4", 4: "A3"}
    assert_pas_response(bundle, json.loads((EXAMPLES / "mixed-outcomes.json").read_text()))
    with services.sessions() as session:
        auth = session.scalar(select(Authorization).where(Authorization.pre_auth_ref == ref))
        assert auth is not None and auth.status == "pended"
        event = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id.desc())).first()
        assert event is not None and (event.item_sequence, event.action) == (2, "A4")
        assert event.actor == "reviewer:anonymous"
        assert event.note == "Appeal received: the approval is reconsidered"
        assert event.trace["reopened_from"] == "A1"
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.route == "/admin/review/<key>/reopen")
        ).one()
        assert audit.status == 200 and "item 2 reopened" in (audit.detail or "")
        assert f"authorization/{ref}" in audit.entities
        # The same path a decision takes: the new version goes to the submitter's subscription.
        (note,) = session.scalars(
            select(OutboxEvent).where(OutboxEvent.authorization_id == auth.id)
        ).all()
        assert note.kind == "event-notification"
        assert note.payload is not None and json.loads(note.payload) == bundle
    (case,) = client.get("/admin/review/queue").get_json()["pended"]
    assert case["preAuthRef"] == ref and case["pendingItems"] == [2, 3]
    again = decide(client, ref, item=2, action="approve", period_days=30)
    assert again.status_code == 200
    assert review_actions(again.get_json())[2] == "A1"
    cr = again.get_json()["entry"][0]["resource"]
    (item,) = [i for i in cr["item"] if i["itemSequence"] == 2]
    review = item["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "number", "valueString": f"{ref}-2"} in review  # the number it had


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"item": 3, "reason": "Look again"}, 409, "pended already"),
        ({"item": 9, "reason": "Look again"}, 400, "no item 9"),
        ({"item": 2}, 400, "reason"),
        ({"item": 2, "reason": "   "}, 400, "say why"),
        ({"item": 2, "reason": "x", "reviewer": {"name": "Dr. Rao"}}, 400, "access token"),
    ],
)
def test_a_reopen_that_does_not_apply_is_refused_with_an_operation_outcome(
    client: FlaskClient,
    services: Services,
    pended: tuple[str, dict[str, Any]],
    body: dict[str, Any],
    status: int,
    says: str,
) -> None:
    ref, _ = pended
    resp = reopen(client, ref, **body)
    assert resp.status_code == status
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert says in outcome["issue"][0]["diagnostics"]
    assert versions(services) == [1]


def test_an_item_the_provider_cancelled_is_neither_decided_nor_reopened(
    client: FlaskClient,
) -> None:
    from tests.updates import update_of

    request = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
    ref = submit(client, "mixed-outcomes.json")["entry"][0]["resource"]["preAuthRef"]
    cancel = client.post(
        "/fhir/Claim/$submit",
        data=json.dumps(update_of(request, 1, cancel=(3,))),
        content_type="application/fhir+json",
    )
    assert review_actions(cancel.get_json())[3] == "C"
    for resp in (
        reopen(client, ref, item=3, reason="Look again"),
        decide(client, ref, item=3, action="approve"),
    ):
        assert resp.status_code == 409
        assert "cancelled by the provider" in resp.get_json()["issue"][0]["diagnostics"]


def test_a_refused_submission_is_not_reviewed(client: FlaskClient) -> None:
    refused = submit(client, "errors/error-coverage-ended.json")["entry"][0]["resource"]
    assert refused["outcome"] == "error" and "preAuthRef" not in refused
    with_id = client.get("/admin/review/queue").get_json()
    assert with_id == {"pended": [], "undelivered": []}
    from fhirauth.store.models import Authorization

    app_services: Services = client.application.extensions["fhirauth"]
    with app_services.sessions() as session:
        auth = session.scalar(
            select(Authorization).where(Authorization.claim_response_id == refused["id"])
        )
        assert auth is not None and auth.pre_auth_ref is None
    for resp in (
        decide(client, auth.id, item=1, action="approve"),
        reopen(client, auth.id, item=1, reason="Look again"),
    ):
        assert resp.status_code == 409
        assert "refused submission" in resp.get_json()["issue"][0]["diagnostics"]


# With authentication on: the reviewer is the client its access token names.

PAYER = "http://hl7.org/fhir/sid/us-npi|1558244418"  # the demo payer, not a provider


def secured(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> tuple[str, dict[str, str], dict[str, str]]:
    """approve-ct-head.json (A1) sent by its provider's client; a payer reviewer's token."""
    submitter = token_for(register())
    sent = secure.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
        content_type="application/fhir+json",
        headers=bearer(submitter),
    )
    assert sent.status_code == 200, sent.get_json()
    reviewer = register(scopes=(ADMIN_SCOPE,), organizations=(PAYER,), sender_ids=())
    ref = sent.get_json()["entry"][0]["resource"]["preAuthRef"]
    return ref, bearer(submitter), bearer(token_for(reviewer, ADMIN_SCOPE))


def test_the_reviewer_recorded_is_the_client_the_token_names(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    from fhirauth.store.models import AuditRecord

    ref, _, reviewer = secured(secure, register, token_for)
    body = {"item": 1, "reason": "Entered in error", "reviewer": {"npi": "1234567893"}}
    resp = secure.post(f"/admin/review/{ref}/reopen", json=body, headers=reviewer)
    assert resp.status_code == 200, resp.get_json()
    resp = secure.post(
        f"/admin/review/{ref}/decisions",
        json={"item": 1, "action": "approve", "reviewer": {"npi": "1234567893"}},
        headers=reviewer,
    )
    assert resp.status_code == 200, resp.get_json()
    cr = resp.get_json()["entry"][0]["resource"]
    (seen,) = [e for e in cr["extension"] if e["url"].endswith("claimResponseReviewer")]
    assert {"url": "wasHumanReviewedFlag", "valueBoolean": True} in seen["extension"]
    with secure_services.sessions() as session:
        reopened, decided = session.scalars(
            select(DecisionEvent).order_by(DecisionEvent.id.desc()).limit(2)
        ).all()[::-1]
        who = session.scalars(
            select(AuditRecord.agent).where(AuditRecord.route.like("/admin/review/%"))
        ).all()
    reviewer_id = reopened.actor.removeprefix("reviewer:")
    assert reviewer_id != "anonymous" and decided.actor == reopened.actor
    assert reopened.trace["reviewer"] == "test client"  # the name it is registered under
    assert decided.trace["reviewer_npi"] == "1234567893"
    assert set(who) == {reviewer_id}


def test_a_client_never_decides_or_reopens_its_own_request(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    ref, submitter, reviewer = secured(secure, register, token_for)
    # Another client of the same provider organization is the provider too.
    colleague = bearer(token_for(register(sender_ids=())))
    for caller in (submitter, colleague):
        resp = secure.post(
            f"/admin/review/{ref}/reopen", json={"item": 1, "reason": "Mine"}, headers=caller
        )
        assert resp.status_code == 403
        assert "its own request" in resp.get_json()["issue"][0]["diagnostics"]
    again = {"item": 1, "reason": "Look again"}
    resp = secure.post(f"/admin/review/{ref}/reopen", json=again, headers=reviewer)
    assert resp.status_code == 200
    resp = secure.post(
        f"/admin/review/{ref}/decisions", json={"item": 1, "action": "approve"}, headers=submitter
    )
    assert resp.status_code == 403


def test_reopen_needs_the_admin_scope_like_every_review_route(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    ref, _, _ = secured(secure, register, token_for)
    outsider = register(scopes=("system/*.*",), organizations=(PAYER,), sender_ids=())
    resp = secure.post(
        f"/admin/review/{ref}/reopen",
        json={"item": 1, "reason": "Look again"},
        headers=bearer(token_for(outsider, "system/*.*")),
    )
    assert resp.status_code == 403
    assert ADMIN_SCOPE in resp.headers["WWW-Authenticate"]
