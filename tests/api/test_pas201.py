"""The PAS 2.0.1 base, /fhir/pas/v2.0.1, beside the 2.2.1 base over the same store."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient

from fhirauth.conformance import Registry, validate_bundle
from tests.conftest import EXAMPLES, SHARED_PAS
from tests.inquiries import inquiry_of
from tests.pas import PAS, base_of, review_actions
from tests.updates import cancel_item

V201 = "/fhir/pas/v2.0.1"
FHIR_JSON = "application/fhir+json"
IG_201 = SHARED_PAS / "examples" / "v2.0.1"
PACKAGE_201 = SHARED_PAS / "packages" / "hl7.fhir.us.davinci-pas-2.0.1.tgz"
needs_ig = pytest.mark.skipif(
    not PACKAGE_201.exists(), reason=f"needs the PAS 2.0.1 IG files in {SHARED_PAS}"
)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON)


def script(client: FlaskClient, outcome: str) -> None:
    assert client.post("/admin/sandbox/scripts", json={"outcome": outcome}).status_code == 201


def as_201_update(request: dict[str, Any], cancel: int) -> dict[str, Any]:
    """A PAS 2.0.1 update: the same Claim identifiers, no Claim.related, flagged items."""
    bundle = copy.deepcopy(request)
    claim = bundle["entry"][0]["resource"]
    claim["meta"] = {"profile": [PAS + "profile-claim-update"]}
    cancel_item(next(i for i in claim["item"] if i["sequence"] == cancel))
    bundle["identifier"]["value"] += "-update"
    return bundle


def errors_against_201(bundle: dict[str, Any]) -> list[Any]:
    """Errors of what we wrote (not the sender's echoed resources) against the 2.0.1 IG."""
    ours = base_of(bundle)
    registry = Registry().load_package(PACKAGE_201)
    return [
        (i.expression, i.diagnostics)
        for i in validate_bundle(bundle, registry)
        if i.severity == "error"
        and (
            not i.expression[0].startswith("Bundle.entry[")
            or bundle["entry"][int(i.expression[0][13:].split("]")[0])]["fullUrl"].startswith(ours)
        )
    ]


def test_the_201_base_has_its_own_capability_statement(client: FlaskClient) -> None:
    cs = client.get(f"{V201}/metadata").get_json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert any(i.endswith("IntermediaryCapabilities|2.0.1") for i in cs["instantiates"])
    assert cs["implementation"]["url"].endswith("/fhir/pas/v2.0.1")
    (claim,) = [r for r in cs["rest"][0]["resource"] if r["type"] == "Claim"]
    assert {o["name"] for o in claim["operation"]} == {"submit", "inquire", "check-authorization"}
    pas = [o for o in claim["operation"] if o["name"] != "check-authorization"]
    assert all(o["definition"].endswith("|2.0.1") for o in pas)
    main = client.get("/fhir/metadata").get_json()
    assert any(i.endswith("IntermediaryCapabilities|2.2.1") for i in main["instantiates"])


def test_a_201_answer_claims_the_201_profiles_under_the_201_base(client: FlaskClient) -> None:
    resp = post(client, f"{V201}/Claim/$submit", load("approve-ct-head.json"))
    assert resp.status_code == 200
    body = resp.get_json()
    Bundle.model_validate(body)
    cr = body["entry"][0]
    assert cr["fullUrl"].startswith("http://fhirauth.test/fhir/pas/v2.0.1/ClaimResponse/")
    assert cr["resource"]["meta"]["profile"] == [PAS + "profile-claimresponse|2.0.1"]
    assert review_actions(body) == {1: "A1"}
    text = json.dumps(cr["resource"])
    for newer in ("extension-claimResponseReviewer", "extension-TransmissionIdentifiers"):
        assert newer not in text


def test_a_duplicate_through_the_201_base_is_answered_byte_for_byte(client: FlaskClient) -> None:
    request = load("pend-mri-brain.json")
    first = post(client, f"{V201}/Claim/$submit", request)
    again = post(client, f"{V201}/Claim/$submit", request)
    assert first.data == again.data


def test_reads_through_the_201_base(client: FlaskClient) -> None:
    body = post(client, f"{V201}/Claim/$submit", load("approve-ct-head.json")).get_json()
    cr_id = body["entry"][0]["resource"]["id"]
    read = client.get(f"{V201}/ClaimResponse/{cr_id}")
    assert read.status_code == 200
    assert read.get_json()["meta"]["profile"] == [PAS + "profile-claimresponse|2.0.1"]
    assert client.get("/fhir/ClaimResponse/" + cr_id).get_json()["meta"]["profile"] == [
        PAS + "profile-claimresponse"
    ]
    assert client.get(f"{V201}/ClaimResponse/nope").status_code == 404


def test_201_inquire_answers_the_inquiry_response_bundle_itself(client: FlaskClient) -> None:
    request = load("pend-mri-brain.json")
    post(client, "/fhir/Claim/$submit", request)  # made through the 2.2.1 base
    resp = post(client, f"{V201}/Claim/$inquire", inquiry_of(request))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["resourceType"] == "Bundle" and body["type"] == "collection"
    Bundle.model_validate(body)
    cr = body["entry"][0]["resource"]
    assert cr["meta"]["profile"] == [PAS + "profile-claiminquiryresponse|2.0.1"]
    assert review_actions(body) == {1: "A4"}


def test_an_authorization_made_through_201_is_found_through_221(client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    made = post(client, f"{V201}/Claim/$submit", request).get_json()
    found = post(client, "/fhir/Claim/$inquire", inquiry_of(request)).get_json()
    (answer,) = [p["resource"] for p in found["parameter"]]
    ref = answer["entry"][0]["resource"]["preAuthRef"]
    assert ref == made["entry"][0]["resource"]["preAuthRef"]


def test_201_inquire_with_no_match_answers_one_bundle_saying_aa(client: FlaskClient) -> None:
    """2.0.1's $inquire returns exactly one Bundle: with nothing on file, a Claim Inquiry
    Response with outcome error and X12 901 AA (authorization number not found)."""
    resp = post(client, f"{V201}/Claim/$inquire", inquiry_of(load("approve-ct-head.json")))
    assert resp.status_code == 200
    body = resp.get_json()
    Bundle.model_validate(body)
    cr = body["entry"][0]["resource"]
    assert cr["meta"]["profile"] == [PAS + "profile-claiminquiryresponse|2.0.1"]
    assert cr["outcome"] == "error" and "item" not in cr and "preAuthRef" not in cr
    assert [e["code"]["coding"][0]["code"] for e in cr["error"]] == ["AA"]
    if PACKAGE_201.exists():
        assert errors_against_201(body) == []


def test_a_201_update_without_related_finds_its_request_and_cancels_an_item(
    client: FlaskClient,
) -> None:
    request = load("mixed-outcomes.json")
    first = post(client, f"{V201}/Claim/$submit", request).get_json()
    update = as_201_update(request, cancel=2)
    assert "related" not in update["entry"][0]["resource"]
    second = post(client, f"{V201}/Claim/$submit", update).get_json()
    before, after = first["entry"][0]["resource"], second["entry"][0]["resource"]
    assert after["id"] == before["id"] and after["meta"]["versionId"] == "2"
    assert review_actions(second)[2] == "C"
    assert {s: a for s, a in review_actions(second).items() if s != 2} == {
        s: a for s, a in review_actions(first).items() if s != 2
    }


@pytest.mark.parametrize("outcome", ["A1", "A3", "A4"])
def test_a_201_update_answers_its_cancelled_item_c_whatever_was_scripted(
    sandbox: FlaskClient, outcome: str
) -> None:
    request = load("mixed-outcomes.json")
    script(sandbox, outcome)
    post(sandbox, f"{V201}/Claim/$submit", request)
    script(sandbox, outcome)
    second = post(sandbox, f"{V201}/Claim/$submit", as_201_update(request, cancel=3)).get_json()
    assert second["entry"][0]["resource"]["outcome"] == "complete"
    assert review_actions(second) == {1: outcome, 2: outcome, 3: "C", 4: outcome}


@needs_ig
@pytest.mark.parametrize(
    "name", sorted(p.name for p in IG_201.glob("Bundle-*.json")) if IG_201.exists() else []
)
def test_every_201_ig_request_is_processed_and_answered_in_201_terms(
    sandbox: FlaskClient, name: str
) -> None:
    bundle = json.loads((IG_201 / name).read_text())
    if bundle["entry"][0]["resource"]["resourceType"] != "Claim":
        pytest.skip("not a request bundle")
    for outcome in ("A1", "A3", "A4"):
        # Its own Claim identifier each time: a 2.0.1 update that matches nothing is new.
        sent = copy.deepcopy(bundle)
        sent["entry"][0]["resource"]["identifier"][0]["value"] += f"-{outcome}"
        script(sandbox, outcome)
        resp = post(sandbox, f"{V201}/Claim/$submit", sent)
        assert resp.status_code == 200, resp.data[:300]
        body = resp.get_json()
        assert body["entry"][0]["resource"]["outcome"] == "complete"
        actions = review_actions(body)
        items = bundle["entry"][0]["resource"]["item"]
        assert set(actions) == {i["sequence"] for i in items}
        assert all(a in (outcome, "C") for a in actions.values())
        assert errors_against_201(body) == []


@needs_ig
def test_201_inquiry_of_the_ig_example_answers_a_conformant_bundle(sandbox: FlaskClient) -> None:
    request = json.loads((IG_201 / "Bundle-HomecareAuthorizationBundleExample.json").read_text())
    inquiry = json.loads((IG_201 / "Bundle-PASClaimInquiryBundleExample.json").read_text())
    script(sandbox, "A4")
    post(sandbox, f"{V201}/Claim/$submit", request)
    resp = post(sandbox, f"{V201}/Claim/$inquire", inquiry)
    assert resp.status_code == 200, resp.data[:300]
    body = resp.get_json()
    assert body["resourceType"] == "Bundle"
    assert errors_against_201(body) == []
