"""Per-organization isolation (issue 6, spec-53, spec-59), exercised on the operations with
two registered clients: Riverbend (the requesting clinic of mixed-outcomes.json) and another."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhirauth.errors import Forbidden, NotFound
from fhirauth.operations import attachments, claim_inquire, claim_submit
from fhirauth.principal import ANONYMOUS, Principal
from fhirauth.services import Services
from tests.auth.helpers import requestor, with_sender
from tests.conftest import EXAMPLES
from tests.inquiries import inquiry_of
from tests.pas import review_actions
from tests.updates import update_of

NPI = "http://hl7.org/fhir/sid/us-npi"
RIVERBEND = Principal("client-riverbend", (f"{NPI}|1268135906",), senders=("RIVERBENDMSC",))
OTHER = Principal("client-lakeside", (f"{NPI}|1952488215",), senders=("LAKESIDE01",))


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(bundle: dict[str, Any], who: Principal, services: Services) -> dict[str, Any]:
    return json.loads(claim_submit.submit(json.dumps(bundle).encode(), who, services).body)


def test_a_client_submits_only_for_its_own_requesting_organization(services: Services) -> None:
    request = load("mixed-outcomes.json")
    with pytest.raises(Forbidden):
        submit(request, OTHER, services)
    assert review_actions(submit(request, RIVERBEND, services))[2] == "A1"


def test_a_sender_id_counts_only_when_it_is_registered_to_the_caller(services: Services) -> None:
    request = load("mixed-outcomes.json")  # provider Riverbend, ISA06 RIVERBENDMSC
    without_sender = Principal("client-riverbend-2", RIVERBEND.organizations)
    with pytest.raises(Forbidden) as refused:
        submit(request, without_sender, services)
    assert "RIVERBENDMSC" in str(refused.value)
    assert "interchangeSenderID" in refused.value.issues[0].expression[0]
    # The sender id alone does not make Riverbend's provider identifiers the caller's.
    gateway = Principal(
        "client-riverbend-gateway", (f"{NPI}|1999999984",), senders=("RIVERBENDMSC",)
    )
    with pytest.raises(Forbidden) as refused:
        submit(request, gateway, services)
    assert "1268135906" in str(refused.value)
    assert refused.value.issues[0].expression == ("Bundle.entry[1].resource.identifier",)


def test_no_client_files_a_request_under_another_clients_provider_or_sender(
    services: Services,
) -> None:
    # Lakeside sends Riverbend's request as its own sending system: its sender id is its
    # own, the requesting organization is not.
    as_riverbend = with_sender(load("mixed-outcomes.json"), "LAKESIDE01")
    with pytest.raises(Forbidden):
        submit(as_riverbend, OTHER, services)
    # Its own organization as the requestor, Riverbend's sender id (or NPI value) as ISA06.
    for sender in ("RIVERBENDMSC", "1268135906"):
        own = with_sender(load("mixed-outcomes.json"), sender)
        requestor(own)["identifier"] = [{"system": NPI, "value": "1952488215"}]
        with pytest.raises(Forbidden):
            submit(own, OTHER, services)
    # Its own identifier first, Riverbend's after it.
    both = with_sender(load("mixed-outcomes.json"), "LAKESIDE01")
    requestor(both)["identifier"].insert(0, {"system": NPI, "value": "1952488215"})
    with pytest.raises(Forbidden):
        submit(both, OTHER, services)
    # Nothing was filed under Riverbend: its inquiry finds nothing.
    query = json.dumps(inquiry_of(load("mixed-outcomes.json"))).encode()
    assert not claim_inquire.inquire(query, RIVERBEND, services).get("parameter")


def test_without_authentication_any_sender_and_provider_are_accepted(services: Services) -> None:
    anyone = with_sender(load("mixed-outcomes.json"), "SOMEONE-ELSE")
    assert review_actions(submit(anyone, ANONYMOUS, services))[2] == "A1"


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
