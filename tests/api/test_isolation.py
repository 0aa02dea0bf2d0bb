"""Two registered clients over HTTP with real tokens: each sees and changes only its own
organization's authorizations and subscriptions (issue 6 point 5, spec-53, spec-59)."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from fhirauth.services import Services
from fhirauth.store.models import Authorization, Submission
from tests.auth.helpers import Register, TokenFor, bearer, requestor, with_sender
from tests.conftest import EXAMPLES
from tests.inquiries import inquiry_of
from tests.notifications.helpers import subscription

pytest_plugins = ("tests.auth.fixtures",)

FHIR_JSON = "application/fhir+json"
NPI = "http://hl7.org/fhir/sid/us-npi"
RIVERBEND = f"{NPI}|1268135906"  # the requesting clinic of mixed-outcomes.json
LAKESIDE = f"{NPI}|1952488215"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, path: str, body: Any, token: str) -> Any:
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON, headers=bearer(token))


def test_two_clients_are_kept_apart(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    mine = token_for(register(organizations=(RIVERBEND,), sender_ids=("RIVERBENDMSC",)))
    theirs = token_for(register(organizations=(LAKESIDE,), sender_ids=("LAKESIDE01",)))
    request = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())

    assert post(secure, "/fhir/Claim/$submit", request, theirs).status_code == 403
    answer = post(secure, "/fhir/Claim/$submit", request, mine)
    assert answer.status_code == 200
    cr_id = answer.get_json()["entry"][0]["resource"]["id"]

    assert secure.get(f"/fhir/ClaimResponse/{cr_id}", headers=bearer(mine)).status_code == 200
    assert secure.get(f"/fhir/ClaimResponse/{cr_id}", headers=bearer(theirs)).status_code == 404

    inquiry = inquiry_of(request)
    assert post(secure, "/fhir/Claim/$inquire", inquiry, theirs).status_code == 403
    found = post(secure, "/fhir/Claim/$inquire", inquiry, mine).get_json()
    assert len(found["parameter"]) == 1

    foreign = subscription("https://ehr.example.org/notify", filters=("org-identifier=1268135906",))
    assert post(secure, "/fhir/Subscription", foreign, theirs).status_code == 403
    created = post(secure, "/fhir/Subscription", foreign, mine)
    assert created.status_code == 201
    sub_id = created.get_json()["id"]
    assert secure.get(f"/fhir/Subscription/{sub_id}", headers=bearer(theirs)).status_code == 404


def test_no_client_submits_as_another_clients_provider_or_sending_system(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    riverbend = token_for(register(organizations=(RIVERBEND,), sender_ids=("RIVERBENDMSC",)))
    lakeside = token_for(register(organizations=(LAKESIDE,), sender_ids=("LAKESIDE01",)))
    # Riverbend's provider NPI put in the sender identifiers, Lakeside's own as the requestor;
    # and Riverbend's request sent under Lakeside's own sender id.
    as_sender = with_sender(load("mixed-outcomes.json"), "1268135906")
    requestor(as_sender)["identifier"] = [{"system": NPI, "value": "1952488215"}]
    as_provider = with_sender(load("mixed-outcomes.json"), "LAKESIDE01")
    for forged in (as_sender, as_provider):
        answer = post(secure, "/fhir/Claim/$submit", forged, lakeside)
        assert answer.status_code == 403, answer.get_data(as_text=True)
        outcome = answer.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "forbidden"
    with secure_services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Authorization)) == 0
        assert session.scalar(select(func.count()).select_from(Submission)) == 0
    inquiry = inquiry_of(load("mixed-outcomes.json"))
    found = post(secure, "/fhir/Claim/$inquire", inquiry, riverbend)
    assert found.status_code == 200 and not found.get_json().get("parameter")
    # The same request from the client it belongs to is accepted and found.
    assert (
        post(secure, "/fhir/Claim/$submit", load("mixed-outcomes.json"), riverbend).status_code
        == 200
    )
    found = post(secure, "/fhir/Claim/$inquire", inquiry, riverbend)
    assert len(found.get_json()["parameter"]) == 1


def test_a_client_may_subscribe_by_its_own_sender_id_only(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    riverbend = token_for(register(organizations=(RIVERBEND,), sender_ids=("RIVERBENDMSC",)))
    lakeside = token_for(register(organizations=(LAKESIDE,), sender_ids=("LAKESIDE01",)))
    by_sender = subscription(
        "https://ehr.example.org/notify", filters=("org-identifier=RIVERBENDMSC",)
    )
    assert post(secure, "/fhir/Subscription", by_sender, lakeside).status_code == 403
    assert post(secure, "/fhir/Subscription", by_sender, riverbend).status_code == 201
