"""Extending the time for a review over HTTP (``POST /admin/review/{key}/extend``): the CMS
due time of a pended request or of its open appeal, pushed back at most 14 days in all, before
it runs out, recorded and audited; not an extension (certificationType 4) of what was
authorized."""

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
from fhirauth.store.models import Appeal, AuditRecord, Authorization, ClaimResponseVersion
from tests.auth.helpers import Register, TokenFor, bearer
from tests.conftest import EXAMPLES, NOW
from tests.updates import appeal_of

pytest_plugins = ("tests.auth.fixtures",)


def submit(client: FlaskClient, name: str, **headers: str) -> str:
    resp = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / name).read_bytes(),
        content_type="application/fhir+json",
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    return str(resp.get_json()["entry"][0]["resource"]["preAuthRef"])


def extend(
    client: FlaskClient, ref: str, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return client.post(f"/admin/review/{ref}/extend", json=body, headers=headers or {})


def test_extending_moves_the_due_time_records_who_and_why_and_is_audited(
    client: FlaskClient, services: Services
) -> None:
    ref = submit(client, "pend-knee-needs-note.json")  # standard: due in 7 days
    services.clock = fixed_clock(NOW + timedelta(days=2))
    resp = extend(client, ref, days=10, reason="The member asked for time to send records")
    assert resp.status_code == 200, resp.get_json()
    case = resp.get_json()
    assert case["dueAt"] == (NOW + timedelta(days=17)).isoformat()
    assert case["reviewExtendedAt"] == (NOW + timedelta(days=2)).isoformat()
    (queued,) = client.get("/admin/review/queue").get_json()["pended"]
    assert queued["dueAt"] == case["dueAt"]
    events = client.get(f"/admin/authorizations/{ref}/trace").get_json()["events"]
    moved = events[-1]
    assert (moved["item"], moved["action"], moved["actor"]) == (None, "DUE", "reviewer:anonymous")
    assert moved["note"] == "The member asked for time to send records"
    assert moved["trace"]["review_extended"] == {
        "clock": "request",
        "from": (NOW + timedelta(days=7)).isoformat(),
        "to": (NOW + timedelta(days=17)).isoformat(),
    }
    with services.sessions() as session:
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.route == "/admin/review/<key>/extend")
        ).one()
        assert audit.status == 200 and "extended by 10 days" in (audit.detail or "")
        # Nothing the provider was answered changes: no new ClaimResponse version.
        assert session.scalars(select(ClaimResponseVersion.version)).all() == [1]
    summary = client.get(f"/admin/authorizations/{ref}").get_json()
    assert summary["reviewExtendedAt"] == case["reviewExtendedAt"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"days": 15, "reason": "x"}, 400, "days"),
        ({"days": 0, "reason": "x"}, 400, "days"),
        ({"days": 3}, 400, "reason"),
        ({"days": 3, "reason": "  "}, 400, "say why"),
        ({"days": "3", "reason": "x"}, 400, "days"),
    ],
)
def test_an_extension_body_that_breaks_the_rules_is_a_400(
    client: FlaskClient, body: dict[str, Any], status: int, says: str
) -> None:
    ref = submit(client, "pend-knee-needs-note.json")
    resp = extend(client, ref, **body)
    assert resp.status_code == status
    assert says in resp.get_json()["issue"][0]["diagnostics"]


def test_at_most_14_days_in_all_and_only_before_the_due_time_passes(
    client: FlaskClient, services: Services
) -> None:
    ref = submit(client, "pend-mri-brain.json")  # expedited: due in 72 hours
    assert extend(client, ref, days=10, reason="Awaiting records").status_code == 200
    again = extend(client, ref, days=5, reason="Still awaiting records")
    assert again.status_code == 409
    assert "at most 14 days" in again.get_json()["issue"][0]["diagnostics"]
    assert extend(client, ref, days=4, reason="Still awaiting records").status_code == 200
    services.clock = fixed_clock(NOW + timedelta(days=18))
    other = submit(client, "pend-knee-needs-note.json")
    services.clock = fixed_clock(NOW + timedelta(days=26))  # its 7 days ran out
    late = extend(client, other, days=1, reason="Too late")
    assert late.status_code == 409 and "ran out" in late.get_json()["issue"][0]["diagnostics"]


def test_only_a_pended_request_has_a_review_time_to_extend(client: FlaskClient) -> None:
    ref = submit(client, "approve-ct-head.json")
    resp = extend(client, ref, days=1, reason="x")
    assert resp.status_code == 409 and "only a pended" in resp.get_json()["issue"][0]["diagnostics"]
    assert extend(client, "PANOSUCHREF2", days=1, reason="x").status_code == 404


def test_an_open_appeals_clock_is_the_one_extended(client: FlaskClient, services: Services) -> None:
    request = json.loads((EXAMPLES / "deny-cosmetic-hair-transplant.json").read_text())
    ref = submit(client, "deny-cosmetic-hair-transplant.json")
    services.clock = fixed_clock(NOW + timedelta(days=20))
    client.post("/fhir/Claim/$submit", json=appeal_of(request, 1))
    case = extend(client, ref, days=3, reason="Independent review requested").get_json()
    assert case["dueAt"] == (NOW + timedelta(days=30)).isoformat()
    assert case["appeal"]["extendedAt"] == (NOW + timedelta(days=20)).isoformat()
    with services.sessions() as session:
        auth = session.scalar(select(Authorization).where(Authorization.pre_auth_ref == ref))
        appeal = session.scalar(select(Appeal))
        assert auth is not None and appeal is not None
        assert auth.review_extended_at is None  # the request's own review was not extended
        assert appeal.due_at == NOW + timedelta(days=30)


def test_a_client_never_extends_the_review_of_its_own_request(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    provider = bearer(token_for(register()))  # approve-ct-head.json's provider
    payer = "http://hl7.org/fhir/sid/us-npi|1558244418"
    desk = register(scopes=(ADMIN_SCOPE,), organizations=(payer,), sender_ids=())
    reviewer = bearer(token_for(desk, ADMIN_SCOPE))
    ref = submit(secure, "approve-ct-head.json", **provider)
    reopened = secure.post(
        f"/admin/review/{ref}/reopen", json={"item": 1, "reason": "Audit"}, headers=reviewer
    )
    assert reopened.status_code == 200  # pended again, under its first clock
    mine = extend(secure, ref, provider, days=2, reason="More time please")
    assert (
        mine.status_code == 403 and "its own request" in mine.get_json()["issue"][0]["diagnostics"]
    )
    assert extend(secure, ref, reviewer, days=2, reason="Records requested").status_code == 200
