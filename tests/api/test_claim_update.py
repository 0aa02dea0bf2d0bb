"""Claim Updates and cancellation on POST /fhir/Claim/$submit (REQUIREMENTS.md §1.3), in the
four steps the conformance suite runs: initial, add an item, modify one and cancel one, cancel
all."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from fhirauth.store.models import Authorization, ClaimResponseVersion, Submission
from tests.conftest import EXAMPLES, NOW
from tests.notifications.helpers import subscription
from tests.pas import PAS, assert_pas_response, review_actions
from tests.updates import update_of


def post(client: FlaskClient, bundle: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/fhir/Claim/$submit", data=json.dumps(bundle), content_type="application/fhir+json"
    )
    assert resp.status_code == 200, resp.data[:400]
    return resp.get_json()


def claim_response(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


def numbers(bundle: dict[str, Any]) -> dict[int, str]:
    out = {}
    for item in claim_response(bundle).get("item", []):
        for sub in item["adjudication"][0]["extension"][0]["extension"]:
            if sub["url"] == "number":
                out[item["itemSequence"]] = sub["valueString"]
    return out


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


CT_HEAD = {
    "sequence": 5,
    "extension": [
        {
            "url": PAS + "extension-serviceItemRequestType",
            "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1525", "code": "HS"}]
            },
        },
        {
            "url": PAS + "extension-certificationType",
            "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "I"}]
            },
        },
    ],
    "category": {"coding": [{"system": "https://codesystem.x12.org/005010/1365", "code": "4"}]},
    "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70460"}]},
    "servicedDate": "2026-12-21",
    "locationCodeableConcept": {
        "coding": [
            {
                "system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/"
                "Place_of_Service_Code_Set",
                "code": "22",
            }
        ]
    },
    "quantity": {"value": 1, "unit": "unit"},
}


@pytest.fixture
def initial(client: FlaskClient) -> tuple[dict[str, Any], dict[str, Any]]:
    request = load("mixed-outcomes.json")
    return request, post(client, request)


def test_the_four_step_update_sequence_answers_every_submitted_item_and_only_those(
    client: FlaskClient, services: Services, initial: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, first = initial
    assert review_actions(first) == {1: "NA", 2: "A1", 3: "A4", 4: "A3"}

    added = update_of(request, 1, add=[CT_HEAD])
    second = post(client, added)
    assert_pas_response(second, added)
    assert review_actions(second) == {1: "NA", 2: "A1", 3: "A4", 4: "A3", 5: "A1"}

    modified = update_of(
        added, 2, change={2: {"quantity": {"value": 2, "unit": "unit"}}}, cancel=(3,)
    )
    third = post(client, modified)
    assert_pas_response(third, modified)
    assert review_actions(third) == {1: "NA", 2: "A1", 3: "C", 4: "A3", 5: "A1"}

    cancelled = update_of(modified, 3, cancel_all=True)
    fourth = post(client, cancelled)
    cr = claim_response(fourth)
    assert "item" not in cr  # none submitted, none answered (spec-34)
    (header,) = cr["adjudication"]  # the request as a whole: its review action is the reason
    assert header["reason"]["coding"][0]["code"] == "C"

    with services.sessions() as session:
        auth = session.scalars(select(Authorization)).one()
        assert auth.status == "cancelled" and auth.current_version == 4
        assert {i.review_action for i in auth.items} == {"C"}
        kinds = session.scalars(select(Submission.kind).order_by(Submission.received_at)).all()
        assert sorted(kinds) == ["cancel", "initial", "update", "update"]
        assert len(session.scalars(select(ClaimResponseVersion)).all()) == 4


def test_an_update_keeps_the_claim_response_its_identifiers_and_the_item_numbers(
    client: FlaskClient, initial: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, first = initial
    update = update_of(
        request, 1, add=[CT_HEAD], change={2: {"quantity": {"value": 2, "unit": "unit"}}}
    )
    second = post(client, update)
    before, after = claim_response(first), claim_response(second)
    assert after["id"] == before["id"]
    assert after["meta"]["versionId"] == "2"
    assert after["preAuthRef"] == before["preAuthRef"]
    assert after["identifier"][0] == before["identifier"][0]
    assert numbers(second)[2] == numbers(first)[2]
    assert numbers(second)[5] == f"{before['preAuthRef']}-5"
    assert after["request"]["reference"] == update["entry"][0]["fullUrl"]


def test_reading_the_claim_response_gives_the_newest_version(
    client: FlaskClient, initial: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, first = initial
    post(client, update_of(request, 1, cancel=(3,)))
    got = client.get(f"/fhir/ClaimResponse/{claim_response(first)['id']}").get_json()
    assert got["meta"]["versionId"] == "2"
    assert {i["itemSequence"]: i for i in got["item"]}[3]["adjudication"][0]["extension"][0][
        "extension"
    ][0]["valueCodeableConcept"]["coding"][0]["code"] == "C"


def test_an_update_without_the_prior_claim_is_found_by_an_authorization_number(
    client: FlaskClient, initial: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, first = initial
    update = update_of(request, 1, cancel=(2,), embed_prior=False)
    claim = update["entry"][0]["resource"]
    claim["related"][0]["claim"] = {"display": "the original request"}
    item = claim["item"][1]
    item["extension"].append(
        {"url": PAS + "extension-authorizationNumber", "valueString": numbers(first)[2]}
    )
    second = post(client, update)
    assert claim_response(second)["id"] == claim_response(first)["id"]
    assert review_actions(second)[2] == "C"


def test_an_update_matching_no_authorization_is_refused_but_answers_every_item(
    client: FlaskClient,
) -> None:
    request = load("approve-ct-head.json")  # never submitted
    update = update_of(request, 1, add=[CT_HEAD])
    cr = claim_response(post(client, update))
    assert cr["outcome"] == "error"
    assert cr["error"][0]["code"]["coding"][0]["code"] == "AA"
    assert [i["itemSequence"] for i in cr["item"]] == [1, 5]


def test_an_update_of_a_denied_request_is_refused_with_an_x12_code_answering_every_item(
    client: FlaskClient,
) -> None:
    request = load("deny-cosmetic-hair-transplant.json")
    assert review_actions(post(client, request)) == {1: "A3"}
    update = update_of(request, 1, change={1: {"quantity": {"value": 2, "unit": "unit"}}})
    second = post(client, update)
    cr = claim_response(second)
    assert cr["outcome"] == "error"
    (error,) = cr["error"]
    assert error["code"]["coding"][0] == {
        "system": "https://codesystem.x12.org/005010/901",
        "code": "41",
    }
    assert review_actions(second) == {1: "A3"}
    # The refusal is a submission of its own: no number, and the authorization is unchanged.
    first = claim_response(post(client, request))  # the same request again: replayed
    assert "preAuthRef" not in cr and cr["id"] != first["id"]
    stored = client.get(f"/fhir/ClaimResponse/{first['id']}").get_json()
    assert stored == first and stored["meta"]["versionId"] == "1"


def test_an_update_from_another_member_does_not_find_the_authorization(
    client: FlaskClient, initial: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = initial
    update = update_of(request, 1, cancel=(2,))
    coverage = next(
        e["resource"] for e in update["entry"] if e["resource"]["resourceType"] == "Coverage"
    )
    for ident in coverage.get("identifier", []):
        ident["value"] = "SOMEONE-ELSE"
    coverage["subscriberId"] = "SOMEONE-ELSE"
    cr = claim_response(post(client, update))
    assert cr["outcome"] == "error" and cr["error"][0]["code"]["coding"][0]["code"] == "AA"


def test_the_ig_homecare_update_cancels_one_item_and_adds_one(client: FlaskClient) -> None:
    from tests.conftest import SHARED_PAS

    folder = SHARED_PAS / "examples"
    if not folder.exists():
        pytest.skip(f"{folder} is absent: the IG examples live in ../shared beside the checkout")
    initial = json.loads((folder / "Bundle-HomecareAuthorizationBundleExample.json").read_text())
    update = json.loads(
        (folder / "Bundle-HomecareAuthorizationUpdateBundleExample.json").read_text()
    )
    first = post(client, initial)
    second = post(client, update)
    assert_pas_response(second, update)
    assert claim_response(second)["id"] == claim_response(first)["id"]
    actions = review_actions(second)
    assert set(actions) == {1, 2, 3} and actions[2] == "C"


# Issue 11: a rejected submission is not an authorization.


def coverage_ended(request: dict[str, Any]) -> dict[str, Any]:
    """The request with a Coverage that ended before the service: refused (X12 901 78)."""
    out = copy.deepcopy(request)
    for entry in out["entry"]:
        if entry["resource"]["resourceType"] == "Coverage":
            entry["resource"]["period"] = {"start": "2024-01-01", "end": "2025-12-31"}
    return out


def version_of(services: Services, response_id: str) -> int:
    with services.sessions() as session:
        auth = session.scalars(
            select(Authorization).where(Authorization.claim_response_id == response_id)
        ).one()
        return auth.current_version


@pytest.mark.parametrize("cancel_all", [False, True])
def test_an_update_or_cancel_of_a_refused_submission_finds_nothing(
    client: FlaskClient, services: Services, cancel_all: bool
) -> None:
    request = load("errors/error-coverage-ended.json")
    refused = claim_response(post(client, request))
    assert refused["outcome"] == "error" and "preAuthRef" not in refused
    change = {} if cancel_all else {"add": [CT_HEAD]}
    cr = claim_response(post(client, update_of(request, 1, cancel_all=cancel_all, **change)))
    assert cr["outcome"] == "error" and "preAuthRef" not in cr and cr["id"] != refused["id"]
    assert [e["code"]["coding"][0]["code"] for e in cr["error"]] == ["AA"]
    assert version_of(services, refused["id"]) == 1


def test_a_cancel_finds_the_accepted_authorization_not_a_later_refusal_of_the_same_claim(
    client: FlaskClient, services: Services
) -> None:
    request = load("approve-ct-head.json")
    accepted = claim_response(post(client, request))
    services.clock = fixed_clock(NOW + timedelta(minutes=5))
    # The same Claim (same identifier) sent again later, with a Coverage that has ended.
    refused = claim_response(post(client, coverage_ended(request)))
    assert refused["outcome"] == "error"
    services.clock = fixed_clock(NOW + timedelta(minutes=10))
    cancel = post(client, update_of(request, 1, cancel_all=True))
    cr = claim_response(cancel)
    assert cr["outcome"] == "complete" and cr["id"] == accepted["id"]
    assert cr["preAuthRef"] == accepted["preAuthRef"] and cr["meta"]["versionId"] == "2"
    assert version_of(services, refused["id"]) == 1


def test_an_update_refused_for_coverage_leaves_the_approval_as_it_was(
    client: FlaskClient, services: Services
) -> None:

    request = load("approve-ct-head.json")
    made = client.post(
        "/fhir/Subscription",
        json=subscription("https://ehr.example.org/pas", filters=("org-identifier=1304827169",)),
    )
    assert made.status_code == 201
    accepted = post(client, request)
    assert review_actions(accepted) == {1: "A1"}
    update = update_of(coverage_ended(request), 1, change={1: {"quantity": {"value": 2}}})
    refused = post(client, update)
    cr = claim_response(refused)
    assert cr["outcome"] == "error" and cr["id"] != claim_response(accepted)["id"]
    assert review_actions(refused) == {1: "CT"}  # a refusal certifies nothing
    assert claim_response(accepted)["preAuthRef"] not in json.dumps(refused)
    assert version_of(services, claim_response(accepted)["id"]) == 1
    with services.sessions() as session:
        from fhirauth.store.models import OutboxEvent

        kinds = session.scalars(select(OutboxEvent.kind)).all()
        assert kinds == ["handshake"]  # the subscription's own; nothing changed to notify
