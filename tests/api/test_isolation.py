"""Two registered clients over HTTP with real tokens: each sees and changes only its own
organization's authorizations and subscriptions (issue 6 point 5, spec-53, spec-59)."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from tests.auth.helpers import Register, TokenFor, bearer
from tests.conftest import EXAMPLES
from tests.inquiries import inquiry_of
from tests.notifications.helpers import subscription

pytest_plugins = ("tests.auth.fixtures",)

FHIR_JSON = "application/fhir+json"
NPI = "http://hl7.org/fhir/sid/us-npi"
RIVERBEND = f"{NPI}|1268135906"  # the requesting clinic of mixed-outcomes.json
LAKESIDE = f"{NPI}|1952488215"


def post(client: FlaskClient, path: str, body: Any, token: str) -> Any:
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON, headers=bearer(token))


def test_two_clients_are_kept_apart(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    mine = token_for(register(organizations=(RIVERBEND,)))
    theirs = token_for(register(organizations=(LAKESIDE,)))
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
