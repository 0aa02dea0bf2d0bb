"""POST /fhir/Claim/$inquire (REQUIREMENTS.md §1.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.parameters import Parameters
from flask.testing import FlaskClient

from tests.api.test_claim_update import CT_HEAD
from tests.conftest import EXAMPLES
from tests.inquiries import ANY_SERVICE, code_filter, inquiry_of
from tests.pas import PAS, assert_conformant, references, review_actions
from tests.updates import update_of

CPT = "http://www.ama-assn.org/go/cpt"


def submit(client: FlaskClient, bundle: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/fhir/Claim/$submit", data=json.dumps(bundle), content_type="application/fhir+json"
    )
    assert resp.status_code == 200, resp.data[:300]
    return resp.get_json()


def inquire(client: FlaskClient, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    resp = client.post(
        "/fhir/Claim/$inquire", data=json.dumps(bundle), content_type="application/fhir+json"
    )
    assert resp.status_code == 200, resp.data[:300]
    params = resp.get_json()
    Parameters.model_validate(params)
    assert params["resourceType"] == "Parameters"
    assert all(p["name"] == "return" for p in params.get("parameter", []))
    bundles = [p["resource"] for p in params.get("parameter", [])]
    for bundle in bundles:
        assert_inquiry_response(bundle)
    return bundles


def assert_inquiry_response(bundle: dict[str, Any]) -> None:
    assert_conformant(bundle)
    assert bundle["type"] == "collection" and bundle["timestamp"]
    cr = bundle["entry"][0]["resource"]
    assert cr["resourceType"] == "ClaimResponse"
    assert cr["meta"]["profile"] == [PAS + "profile-claiminquiryresponse"]
    assert "communicationRequest" not in cr
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for ref in references(cr):
        assert ref in urls, ref
    assert urls[cr["request"]["reference"]]["resourceType"] == "Claim"  # spec-44


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture
def mixed(client: FlaskClient) -> tuple[dict[str, Any], dict[str, Any]]:
    request = load("mixed-outcomes.json")
    return request, submit(client, request)


def test_an_inquiry_by_member_and_provider_finds_the_authorization_with_every_item(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, answer = mixed
    (found,) = inquire(client, inquiry_of(request))
    assert review_actions(found) == review_actions(answer)  # pended items stay queryable
    cr = found["entry"][0]["resource"]
    assert cr["preAuthRef"] == answer["entry"][0]["resource"]["preAuthRef"]


def test_after_each_update_the_inquiry_shows_the_current_results(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = mixed
    added = update_of(request, 1, add=[CT_HEAD])
    submit(client, added)
    (found,) = inquire(client, inquiry_of(request))
    assert review_actions(found) == {1: "NA", 2: "A1", 3: "A4", 4: "A3", 5: "A1"}
    modified = update_of(added, 2, cancel=(3,))
    submit(client, modified)
    (found,) = inquire(client, inquiry_of(request))
    assert review_actions(found)[3] == "C"
    submit(client, update_of(modified, 3, cancel_all=True))
    (found,) = inquire(client, inquiry_of(request))
    assert set(review_actions(found).values()) == {"C"}


def test_another_provider_gets_nothing(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = mixed
    query = inquiry_of(request)
    provider = next(
        e["resource"]
        for e in query["entry"]
        if e["fullUrl"].endswith(
            query["entry"][0]["resource"]["provider"]["reference"].rsplit("/", 1)[-1]
        )
    )
    provider["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]
    assert inquire(client, query) == []


def test_another_member_gets_nothing(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = mixed
    query = inquiry_of(request)
    coverage = next(
        e["resource"] for e in query["entry"] if e["resource"]["resourceType"] == "Coverage"
    )
    for ident in coverage.get("identifier", []):
        ident["value"] = "NOT-A-MEMBER"
    coverage["subscriberId"] = "NOT-A-MEMBER"
    assert inquire(client, query) == []


def test_an_authorization_number_finds_its_authorization_and_no_other(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, answer = mixed
    ref = answer["entry"][0]["resource"]["preAuthRef"]
    submit(client, load("no-auth-office-visit.json"))
    (found,) = inquire(client, inquiry_of(request, numbers=(f"{ref}-2",)))
    assert found["entry"][0]["resource"]["preAuthRef"] == ref
    assert inquire(client, inquiry_of(request, numbers=("PA0000000000-1",))) == []


@pytest.mark.parametrize(
    ("item", "hits"),
    [
        (code_filter(CPT, "70450"), 1),
        (code_filter(CPT, "70440", end="70460"), 1),
        (code_filter(CPT, "72141"), 0),
        (code_filter("urn:oid:2.16.840.1.113883.6.12", "70551"), 1),  # CPT by its OID
        (code_filter("https://www.ama-assn.org/go/cpt", "70551"), 1),
        (code_filter(CPT, "70551", action="A4"), 1),
        (code_filter(CPT, "70551", action="A1"), 0),
        (code_filter(CPT, "70450", IssueDate="2026-12-01"), 1),
        (code_filter(CPT, "70450", IssueDate="2026-11-01"), 0),
        (code_filter(CPT, "70450", ExpirationDate={"start": "2026-12-01", "end": "2027-12-31"}), 1),
        (ANY_SERVICE, 1),
    ],
)
def test_item_filters_narrow_the_result(
    client: FlaskClient,
    mixed: tuple[dict[str, Any], dict[str, Any]],
    item: dict[str, Any],
    hits: int,
) -> None:
    request, _ = mixed
    assert len(inquire(client, inquiry_of(request, items=[item]))) == hits


def test_an_inquiry_that_identifies_no_member_gets_an_operation_outcome(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = mixed
    query = inquiry_of(request)
    coverage = next(
        e["resource"] for e in query["entry"] if e["resource"]["resourceType"] == "Coverage"
    )
    coverage.pop("identifier", None)
    coverage.pop("subscriberId", None)
    for entry in query["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].pop("identifier", None)
    resp = client.post(
        "/fhir/Claim/$inquire", data=json.dumps(query), content_type="application/fhir+json"
    )
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert "member id" in resp.get_json()["issue"][0]["diagnostics"]


def test_the_empty_inquiry_bundle_gets_a_4xx_and_one_operation_outcome(
    client: FlaskClient,
) -> None:
    query = inquiry_of(load("approve-ct-head.json"))
    query["entry"] = []
    resp = client.post(
        "/fhir/Claim/$inquire", data=json.dumps(query), content_type="application/fhir+json"
    )
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_the_ig_inquiry_finds_the_ig_homecare_request(client: FlaskClient) -> None:
    from tests.conftest import SHARED_PAS

    folder = SHARED_PAS / "examples"
    if not folder.exists():
        pytest.skip(f"{folder} is absent: the IG examples live in ../shared beside the checkout")
    submit(
        client, json.loads((folder / "Bundle-HomecareAuthorizationBundleExample.json").read_text())
    )
    query = json.loads((folder / "Bundle-PASClaimInquiryBundleExample.json").read_text())
    (found,) = inquire(client, query)
    assert set(review_actions(found)) == {1, 2}


def test_in_sandbox_filters_that_match_nothing_answer_the_members_authorizations(
    sandbox: FlaskClient,
) -> None:
    """Conformance kits inquire with authorization numbers and dates of their own: a sandbox
    answers what the member has with this provider, and says so in a processNote."""
    request = load("mixed-outcomes.json")
    submit(sandbox, request)
    (found,) = inquire(sandbox, inquiry_of(request, numbers=("AUTH-0001",)))
    notes = found["entry"][0]["resource"]["processNote"]
    assert notes[-1]["type"] == "printoper" and notes[-1]["text"].startswith("Sandbox:")
    assert inquire(sandbox, inquiry_of(load("approve-ct-head.json"))) == []  # another member


def test_outside_the_sandbox_filters_that_match_nothing_answer_nothing(
    client: FlaskClient, mixed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    request, _ = mixed
    assert inquire(client, inquiry_of(request, numbers=("AUTH-0001",))) == []


def test_a_refused_request_is_answered_with_its_errors_and_no_authorization_number(
    client: FlaskClient,
) -> None:
    request = load("errors/error-coverage-ended.json")
    refused = submit(client, request)["entry"][0]["resource"]
    (found,) = inquire(client, inquiry_of(request))
    cr = found["entry"][0]["resource"]
    assert cr["id"] == refused["id"]  # its key is the ClaimResponse id: it has no preAuthRef
    assert cr["outcome"] == "error" and "preAuthRef" not in cr
    assert [e["code"]["coding"][0]["code"] for e in cr["error"]] == ["78"]
