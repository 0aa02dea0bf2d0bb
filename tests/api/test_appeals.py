"""Appeals over HTTP (issue 14 point 3): a request with certificationType 1 (immediate) or 2
(standard) against a denied or partly denied authorization opens an appeal instead of being
refused: the denied items pend in the next ClaimResponse version, in the reviewer queue under
the appeal's own clock; a reviewer who did not deny them decides them; the denial stays in the
history; and the appeal's outcome is recorded."""

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
from fhirauth.store.models import (
    Appeal,
    AuditRecord,
    Authorization,
    ClaimResponseVersion,
    DecisionEvent,
    OutboxEvent,
)
from tests.auth.helpers import Register, TokenFor, bearer, requestor, with_sender
from tests.conftest import EXAMPLES, NOW
from tests.notifications.helpers import subscription
from tests.pas import assert_pas_response, review_actions
from tests.updates import appeal_of, update_of

pytest_plugins = ("tests.auth.fixtures",)

FHIR_JSON = "application/fhir+json"
DENIED = "deny-cosmetic-hair-transplant.json"  # item 1: A3 by the rule cosmetic-hair-transplant
MIXED = "mixed-outcomes.json"  # 1 NA, 2 A1, 3 A4, 4 A3 (a rule's denial)
REASON = "Hair loss after burns (L66.x) is reconstructive, not cosmetic: covered on appeal."


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, bundle: dict[str, Any], **headers: str) -> Any:
    resp = client.post(
        "/fhir/Claim/$submit", data=json.dumps(bundle), content_type=FHIR_JSON, headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def ref_of(bundle: dict[str, Any]) -> str:
    return bundle["entry"][0]["resource"]["preAuthRef"]


def decide(
    client: FlaskClient, ref: str, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return client.post(f"/admin/review/{ref}/decisions", json=body, headers=headers or {})


def later(services: Services, **delta: float) -> None:
    services.clock = fixed_clock(NOW + timedelta(**delta))


def appeal_row(services: Services, ref: str) -> Appeal:
    with services.sessions() as session:
        auth = session.scalar(select(Authorization).where(Authorization.pre_auth_ref == ref))
        assert auth is not None
        return session.scalars(
            select(Appeal).where(Appeal.authorization_id == auth.id).order_by(Appeal.received_at)
        ).all()[-1]


@pytest.fixture
def denied(client: FlaskClient) -> tuple[dict[str, Any], str]:
    request = load(DENIED)
    answer = post(client, request)
    assert review_actions(answer) == {1: "A3"}
    return request, ref_of(answer)


def test_an_appeal_of_a_denial_pends_it_under_the_appeals_own_clock(
    client: FlaskClient, services: Services, denied: tuple[dict[str, Any], str]
) -> None:
    request, ref = denied
    later(services, days=3)
    appeal = appeal_of(request, 1)
    answer = post(client, appeal)
    cr = answer["entry"][0]["resource"]
    assert review_actions(answer) == {1: "A4"} and cr["outcome"] == "complete"
    assert cr["meta"]["versionId"] == "2" and ref_of(answer) == ref
    assert_pas_response(answer, appeal)
    (case,) = client.get("/admin/review/queue").get_json()["pended"]
    assert case["preAuthRef"] == ref and case["pendingItems"] == [1]
    assert not case["expedited"]  # a standard appeal (2): 7 days from its receipt
    assert case["receivedAt"] == (NOW + timedelta(days=3)).isoformat()
    assert case["dueAt"] == (NOW + timedelta(days=10)).isoformat()
    assert case["appeal"]["certificationType"] == "2"
    (item,) = case["appeal"]["items"]
    assert item["action"] == "A3" and item["reasonCode"] == "NC"
    assert item["deniedBy"] == ["rule:cosmetic-hair-transplant"]
    summary = client.get(f"/admin/authorizations/{ref}").get_json()
    # The request's own determination is what the initial review said.
    assert summary["determination"] == "denied" and summary["determinedAt"] == NOW.isoformat()
    assert [s["kind"] for s in summary["submissions"]] == ["initial", "appeal"]
    events = client.get(f"/admin/authorizations/{ref}/trace").get_json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("A3", "rule:cosmetic-hair-transplant"),  # the denial stays in the history
        ("A4", "provider:appeal"),
    ]


def test_an_immediate_appeal_is_expedited_72_hours(
    client: FlaskClient, services: Services, denied: tuple[dict[str, Any], str]
) -> None:
    request, ref = denied
    later(services, hours=5)
    post(client, appeal_of(request, 1, kind="1"))
    (case,) = client.get("/admin/review/queue").get_json()["pended"]
    assert case["expedited"] and case["dueAt"] == (NOW + timedelta(hours=77)).isoformat()
    assert appeal_row(services, ref).certification_type == "1"


@pytest.mark.parametrize(
    ("body", "action", "outcome"),
    [
        ({"action": "approve", "period_days": 30}, "A1", "overturned"),
        ({"action": "approve", "quantity": 0.5}, "A2", "partially-overturned"),
        ({"action": "deny", "reason_code": "NC", "reason": "Still cosmetic."}, "A3", "upheld"),
    ],
)
def test_the_reviewers_decision_closes_the_appeal_with_its_outcome_and_is_notified(
    client: FlaskClient,
    services: Services,
    denied: tuple[dict[str, Any], str],
    body: dict[str, Any],
    action: str,
    outcome: str,
) -> None:
    request, ref = denied
    made = client.post(
        "/fhir/Subscription",
        json=subscription("https://ehr.example.org/notify", filters=("org-identifier=1629504816",)),
    )
    assert made.status_code == 201, made.get_json()
    post(client, appeal_of(request, 1))
    later(services, days=2)
    resp = decide(client, ref, item=1, **body)
    assert resp.status_code == 200, resp.get_json()
    assert review_actions(resp.get_json()) == {1: action}
    assert resp.get_json()["entry"][0]["resource"]["meta"]["versionId"] == "3"
    appeal = appeal_row(services, ref)
    assert appeal.outcome == outcome and appeal.decided_at == NOW + timedelta(days=2)
    assert appeal.decided_by == "reviewer:anonymous"
    assert appeal.items[0]["outcome"] == outcome
    with services.sessions() as session:
        versions = session.scalars(select(ClaimResponseVersion.version)).all()
        assert sorted(versions) == [1, 2, 3]  # every earlier answer kept
        notes = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.kind == "event-notification")
        ).all()
        assert notes and json.loads(notes[-1]) == resp.get_json()
        last = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id.desc())).first()
        assert last is not None and last.trace["appeal"] == appeal.id
    summary = client.get(f"/admin/authorizations/{ref}").get_json()
    assert summary["determination"] == "denied"  # the initial review's, whatever the appeal
    assert summary["appeals"][0]["outcome"] == outcome
    assert client.get("/admin/review/queue").get_json()["pended"] == []


def test_an_appeal_of_a_partly_denied_request_appeals_only_its_denied_items(
    client: FlaskClient,
) -> None:
    request = load(MIXED)
    ref = ref_of(post(client, request))
    assert decide(client, ref, item=3, action="approve").status_code == 200
    answer = post(client, appeal_of(request, 1))
    assert review_actions(answer) == {1: "NA", 2: "A1", 3: "A1", 4: "A4"}
    (case,) = client.get("/admin/review/queue").get_json()["pended"]
    assert [i["sequence"] for i in case["appeal"]["items"]] == [4]


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("approved", "Nothing this appeal names was denied"),
        ("pended", "still under review"),
        ("open", "is under review"),
        ("cancelled", "cancelled"),
    ],
)
def test_an_appeal_that_does_not_apply_is_refused_with_x12_41(
    client: FlaskClient, setup: str, says: str
) -> None:
    if setup == "approved":
        request = load("approve-ct-head.json")
        post(client, request)
        appeal = appeal_of(request, 1)
    elif setup == "pended":
        request = load(MIXED)  # item 3 pended, item 4 denied
        post(client, request)
        appeal = appeal_of(request, 1, items=(4,))
    elif setup == "open":
        request = load(DENIED)
        post(client, request)
        post(client, appeal_of(request, 1))
        appeal = appeal_of(request, 2)
    else:
        request = load("pend-mri-brain.json")
        post(client, request)
        post(client, update_of(request, 1, cancel_all=True))
        appeal = appeal_of(request, 2)
    cr = post(client, appeal)["entry"][0]["resource"]
    assert cr["outcome"] == "error"
    (error,) = cr["error"]
    assert error["code"]["coding"][0]["code"] == "41"
    assert any(says in note["text"] for note in cr["processNote"])


def test_an_update_during_an_appeal_leaves_it_to_the_reviewer_and_a_cancel_withdraws_it(
    client: FlaskClient, services: Services, denied: tuple[dict[str, Any], str]
) -> None:
    request, ref = denied
    post(client, appeal_of(request, 1))
    # An update that changes the appealed item is not decided by the policy.
    changed = update_of(request, 2, change={1: {"quantity": {"value": 2, "unit": "unit"}}})
    answer = post(client, changed)
    assert review_actions(answer) == {1: "A4"}
    assert answer["entry"][0]["resource"]["outcome"] == "complete"
    withdrawn = post(client, update_of(request, 3, cancel=(1,)))
    assert review_actions(withdrawn) == {1: "C"}
    row = appeal_row(services, ref)
    assert row.outcome == "withdrawn" and row.decided_by == "provider:cancel"


# With authentication on: who may decide an appeal, and who may appeal.

PAYER = "http://hl7.org/fhir/sid/us-npi|1558244418"


def test_the_reviewer_who_denied_an_item_does_not_decide_its_appeal(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    provider = bearer(token_for(register()))
    first_id, second_id = (
        register(scopes=(ADMIN_SCOPE,), organizations=(PAYER,), sender_ids=()) for _ in "12"
    )
    first = bearer(token_for(first_id, ADMIN_SCOPE))
    second = bearer(token_for(second_id, ADMIN_SCOPE))
    request = load("approve-ct-head.json")
    ref = ref_of(post(secure, request, **provider))
    reopened = secure.post(
        f"/admin/review/{ref}/reopen", json={"item": 1, "reason": "Audit"}, headers=first
    )
    assert reopened.status_code == 200
    denial = {"item": 1, "action": "deny", "reason_code": "MN", "reason": "No red flags."}
    assert decide(secure, ref, first, **denial).status_code == 200
    post(secure, appeal_of(request, 1), **provider)
    refused = decide(secure, ref, first, item=1, action="approve")
    assert refused.status_code == 403
    assert "took no part" in refused.get_json()["issue"][0]["diagnostics"]
    assert decide(secure, ref, provider, item=1, action="approve").status_code == 403
    done = decide(secure, ref, second, item=1, action="approve")
    assert done.status_code == 200 and review_actions(done.get_json()) == {1: "A1"}
    row = appeal_row(secure_services, ref)
    assert row.items[0]["deniedBy"] == [f"reviewer:{first_id}"]
    assert row.outcome == "overturned" and row.decided_by == f"reviewer:{second_id}"
    with secure_services.sessions() as session:
        audit = session.scalars(
            select(AuditRecord.detail).where(AuditRecord.route == "/fhir/Claim/$submit")
        ).all()
    assert any(f"appeal {row.id} opened" in (d or "") for d in audit)


def test_a_client_appeals_only_its_own_organizations_authorizations(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    npi = "http://hl7.org/fhir/sid/us-npi"
    ours = bearer(
        token_for(register(organizations=(f"{npi}|1629504816",), sender_ids=("CAMELDERM",)))
    )
    theirs = bearer(
        token_for(register(organizations=(f"{npi}|1952488215",), sender_ids=("LAKESIDE01",)))
    )
    request = load(DENIED)
    ref = ref_of(post(secure, request, **ours))
    # Another provider's client, sending the same appeal as its own organization: it names a
    # Claim of an authorization it may not see, so nothing matches (X12 901 AA).
    foreign = with_sender(appeal_of(request, 1), "LAKESIDE01")
    requestor(foreign)["identifier"] = [{"system": npi, "value": "1952488215"}]
    cr = post(secure, foreign, **theirs)["entry"][0]["resource"]
    assert cr["outcome"] == "error" and cr["error"][0]["code"]["coding"][0]["code"] == "AA"
    # Sent as the owner's organization, it is refused before anything is read.
    as_owner = secure.post(
        "/fhir/Claim/$submit",
        data=json.dumps(appeal_of(request, 1)),
        content_type=FHIR_JSON,
        headers=theirs,
    )
    assert as_owner.status_code == 403
    with secure_services.sessions() as session:
        assert session.scalars(select(Appeal)).all() == []
        auth = session.scalar(select(Authorization).where(Authorization.pre_auth_ref == ref))
        assert auth is not None and auth.status == "denied" and auth.current_version == 1
    assert review_actions(post(secure, appeal_of(request, 1), **ours)) == {1: "A4"}
