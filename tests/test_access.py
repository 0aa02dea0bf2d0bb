"""Per-organization isolation (issue 6, spec-53, spec-59), exercised on the operations with
two registered clients: Riverbend (the requesting clinic of mixed-outcomes.json) and another."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhirauth.errors import Forbidden, NotFound
from fhirauth.operations import attachments, claim_inquire, claim_submit
from fhirauth.principal import Principal
from fhirauth.services import Services
from tests.conftest import EXAMPLES
from tests.inquiries import inquiry_of
from tests.pas import review_actions
from tests.updates import update_of

NPI = "http://hl7.org/fhir/sid/us-npi"
RIVERBEND = Principal("client-riverbend", (f"{NPI}|1268135906",))
BY_SENDER = Principal("client-riverbend-gateway", ("RIVERBENDMSC",))
OTHER = Principal("client-lakeside", (f"{NPI}|1952488215",))


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(bundle: dict[str, Any], who: Principal, services: Services) -> dict[str, Any]:
    return json.loads(claim_submit.submit(json.dumps(bundle).encode(), who, services).body)


def test_a_client_submits_only_for_its_own_requesting_organization(services: Services) -> None:
    request = load("mixed-outcomes.json")
    with pytest.raises(Forbidden):
        submit(request, OTHER, services)
    assert review_actions(submit(request, RIVERBEND, services))[2] == "A1"


def test_the_sending_system_identifier_also_names_the_submitter(services: Services) -> None:
    assert submit(load("mixed-outcomes.json"), BY_SENDER, services)["entry"][0]["resource"]


def test_another_client_cannot_update_what_it_did_not_submit(services: Services) -> None:
    request = load("mixed-outcomes.json")
    submit(request, RIVERBEND, services)
    with pytest.raises(Forbidden):
        submit(update_of(request, 1, cancel=(2,)), OTHER, services)


def test_an_inquiry_is_answered_only_for_the_clients_own_provider_npi(
    services: Services,
) -> None:
    request = load("mixed-outcomes.json")
    submit(request, RIVERBEND, services)
    query = json.dumps(inquiry_of(request)).encode()
    with pytest.raises(Forbidden):
        claim_inquire.inquire(query, OTHER, services)
    found = claim_inquire.inquire(query, RIVERBEND, services)["parameter"]
    assert len(found) == 1


def test_documents_for_another_clients_request_are_not_accepted(services: Services) -> None:
    from tests.api.test_attachments import attachment, member_of, note, tracking_of

    request = load("pend-knee-needs-note.json")
    owner = Principal("client-owner", ("anything",), anonymous=True)  # auth off for the owner
    first = submit(request, owner, services)
    params = attachment(tracking_of(first), member_of(request), note())
    with pytest.raises(NotFound):
        attachments.submit_attachment(params, OTHER, services)
