"""The conformance suite's server flows (CONFORMANCE-TESTS.md, the v2.2.1 list), with bundles we
wrote in the shapes the suite sends, checked the way the suite checks them.

* 2.1-2.3 approval, denial, pended: one byte-identical bundle posted three times under sandbox
  scripts (the suite's presets are byte-identical, so only a script can tell the answers
  apart), and our examples, whose content earns each decision from the policy;
* 2.4 the four-step update sequence (initial, add an item, modify one and cancel one, cancel
  all) with the item-sequence echo (spec-34) and current-results (spec-46) checks;
* a ``$inquire`` after each answer (the suite's must-support inquiry, and REQUIREMENTS.md §1.4);
* 4 the empty-entry bundle on both operations: not 2xx, an OperationOutcome.

The suite-shaped request is ``examples/modify-wheelchair-nursing-facility.json``: like the
suite's preset (the IG's referral example) it has absolute fullUrls with relative references,
TransmissionIdentifiers, a Claim identifier with jurisdiction and subDepartment, and items with
trace numbers, the order behind them and every other line detail.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from fhirauth.fhir.bundle import Entry, resolve
from tests.conftest import EXAMPLES
from tests.inquiries import inquiry_of
from tests.pas import (
    PAS,
    REVIEW_ACTION_SYSTEM,
    assert_conformant,
    assert_pas_response,
    references,
    review_actions,
)
from tests.updates import update_of

FHIR_JSON = "application/fhir+json"
SUITE_REQUEST = "modify-wheelchair-nursing-facility.json"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def script(client: FlaskClient, outcome: str) -> None:
    resp = client.post("/admin/sandbox/scripts", json={"outcome": outcome})
    assert resp.status_code in (200, 201), resp.get_json()


# --- What the suite asserts ----------------------------------------------------------------------


def submit(client: FlaskClient, body: bytes) -> dict[str, Any]:
    """pas_claim_submit_operation_test: HTTP 200 or 201, a JSON Bundle."""
    resp = client.post("/fhir/Claim/$submit", data=body, content_type=FHIR_JSON)
    assert resp.status_code in (200, 201), resp.data[:400]
    bundle = json.loads(resp.data)
    assert bundle["resourceType"] == "Bundle"
    return dict(bundle)


def assert_response_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """pas_server_response_bundle_validation_test: the ClaimResponse first; every reference in
    it but ``request`` resolves to exactly one entry; the Bundle and its entries conform."""
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "ClaimResponse"
    entries = [Entry(i, e["fullUrl"], e["resource"]) for i, e in enumerate(bundle["entry"])]
    without_request = {k: v for k, v in first.items() if k != "request"}
    for ref in references(without_request):
        assert len(resolve(ref, entries[-1], entries)) == 1, ref
    assert_conformant(bundle)
    return dict(first)


def assert_decision(bundle: dict[str, Any], code: str) -> None:
    """prior_auth_claim_response_decision_validation: some item has this X12 306 code."""
    found = set()
    for item in bundle["entry"][0]["resource"].get("item", []):
        for adjudication in item["adjudication"]:
            for ext in adjudication.get("extension", []):
                if ext["url"] != PAS + "extension-reviewAction":
                    continue
                for sub in ext["extension"]:
                    if sub["url"] == PAS + "extension-reviewActionCode":
                        coding = sub["valueCodeableConcept"]["coding"]
                        found |= {c["code"] for c in coding if c["system"] == REVIEW_ACTION_SYSTEM}
    assert code in found, found


def assert_items_answered(bundle: dict[str, Any], request: dict[str, Any]) -> None:
    """spec-34: every itemSequence answers a submitted item; spec-46: every submitted item is
    answered (cancelled and changed ones too)."""
    submitted = {i["sequence"] for i in request["entry"][0]["resource"].get("item", [])}
    answered = [i["itemSequence"] for i in bundle["entry"][0]["resource"].get("item", [])]
    assert len(answered) == len(set(answered))
    assert set(answered) <= submitted, "spec-34"
    assert submitted <= set(answered), "spec-46"


def inquire(client: FlaskClient, request: dict[str, Any], pre_auth_ref: str) -> dict[str, Any]:
    """pas_v221_claim_inquire_operation_test: a Parameters with the inquiry response Bundles;
    asked by the authorization's number, exactly one, conformant, Claim Inquiry Response first."""
    query = inquiry_of(request, numbers=(pre_auth_ref,))
    resp = client.post("/fhir/Claim/$inquire", data=json.dumps(query), content_type=FHIR_JSON)
    assert resp.status_code in (200, 201), resp.data[:400]
    params = resp.get_json()
    assert params["resourceType"] == "Parameters"
    (found,) = [p["resource"] for p in params["parameter"] if p["name"] == "return"]
    cr = assert_response_bundle(found)
    assert cr["meta"]["profile"] == [PAS + "profile-claiminquiryresponse"]
    assert cr["preAuthRef"] == pre_auth_ref
    return dict(found)


# --- 2.1-2.3 approval, denial, pended ------------------------------------------------------------


def test_approval_denial_and_pended_from_one_byte_identical_bundle(sandbox: FlaskClient) -> None:
    request = load(SUITE_REQUEST)
    body = json.dumps(request).encode()
    seen = set()
    for code in ("A1", "A3", "A4"):
        script(sandbox, code)
        bundle = submit(sandbox, body)
        cr = assert_response_bundle(bundle)
        assert_pas_response(bundle, request)
        assert_decision(bundle, code)
        assert cr["preAuthRef"] not in seen  # a scripted answer is never a replay
        seen.add(cr["preAuthRef"])
        assert review_actions(inquire(sandbox, request, cr["preAuthRef"])) == {1: code}
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "CommunicationRequest" in kinds and "Task" in kinds  # the pended answer asks


def test_the_trio_flagging_its_items_changed_is_answered_as_scripted(sandbox: FlaskClient) -> None:
    """The kit's approval, denial and pend inputs share one Claim.identifier and flag their
    items infoChanged, which reads as a 2.0.1 update of the request before: the denial changes
    the approval, and the pend, which would be refused as a change to a denied authorization,
    is decided as a new request. Each answers what was scripted."""
    request = load(SUITE_REQUEST)
    for item in request["entry"][0]["resource"]["item"]:
        item.setdefault("extension", []).append(
            {"url": PAS + "extension-infoChanged", "valueCode": "changed"}
        )
    body = json.dumps(request).encode()
    for code in ("A1", "A3", "A4"):
        script(sandbox, code)
        bundle = submit(sandbox, body)
        assert bundle["entry"][0]["resource"]["outcome"] == "complete", code
        assert set(review_actions(bundle).values()) == {code}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("approve-ct-head.json", "A1"),
        ("deny-cosmetic-hair-transplant.json", "A3"),
        ("pend-knee-needs-note.json", "A4"),
    ],
)
def test_approval_denial_and_pended_from_our_examples(
    client: FlaskClient, name: str, code: str
) -> None:
    request = load(name)
    bundle = submit(client, json.dumps(request).encode())
    cr = assert_response_bundle(bundle)
    assert_pas_response(bundle, request)
    assert_decision(bundle, code)
    assert review_actions(inquire(client, request, cr["preAuthRef"])) == review_actions(bundle)


def test_the_pended_answer_carries_the_providers_to_do_list(client: FlaskClient) -> None:
    request = load("pend-knee-needs-note.json")
    bundle = submit(client, json.dumps(request).encode())
    cr = bundle["entry"][0]["resource"]
    entries = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    (ref,) = cr["communicationRequest"]
    comm = entries[ref["reference"]]
    (task,) = [r for r in entries.values() if r["resourceType"] == "Task"]
    assert task["status"] == "requested" and task["intent"] == "order"
    assert task["for"] == cr["patient"]
    assert task["reasonReference"] == {"reference": request["entry"][0]["fullUrl"]}
    assert task["basedOn"] == [ref]
    inputs = {i["type"]["coding"][0]["code"]: i for i in task["input"]}
    assert inputs["payer-url"]["valueUrl"].endswith("/$submit-attachment")
    needed = inputs["attachments-needed"]
    assert needed["valueCodeableConcept"]["coding"][0]["code"] == "11506-3"
    assert comm["payload"][0]["contentString"] == "11506-3"
    assert task["restriction"]["period"]["end"] == "2026-12-08T15:30:00+00:00"  # 7 days


# --- 2.4 the four-step update sequence -----------------------------------------------------------


def cushion() -> dict[str, Any]:
    """A line an update adds: a seat cushion for the wheelchair."""
    item = copy.deepcopy(load(SUITE_REQUEST)["entry"][0]["resource"]["item"][0])
    keep = ("extension-serviceItemRequestType", "extension-certificationType")
    item["extension"] = [e for e in item["extension"] if e["url"].endswith(keep)]
    for key in ("revenue", "unitPrice"):
        item.pop(key)
    item["sequence"] = 2
    item["productOrService"] = {
        "coding": [{"system": HCPCS, "code": "E2601", "display": "General use wheelchair cushion"}]
    }
    item["quantity"] = {"value": 1, "unit": "unit"}
    return item


@pytest.mark.parametrize("scripted", [None, "A1"], ids=["policy", "sandbox"])
def test_the_four_step_update_sequence(
    client: FlaskClient, sandbox: FlaskClient, scripted: str | None
) -> None:
    http = sandbox if scripted else client
    initial = load(SUITE_REQUEST)
    add_item = update_of(initial, 1, add=[cushion()])
    modify_cancel = update_of(
        add_item, 2, change={1: {"quantity": {"value": 1, "unit": "unit"}}}, cancel=(2,)
    )
    cancel_all = update_of(modify_cancel, 3, cancel_all=True)
    first = "A1" if scripted else "A6"
    expected = [{1: first}, {1: first, 2: scripted or "NA"}, {1: scripted or "A1", 2: "C"}]
    ref = None
    steps = zip([initial, add_item, modify_cancel], expected, strict=True)
    for step, (request, actions) in enumerate(steps):
        if scripted:
            script(http, scripted)
        bundle = submit(http, json.dumps(request).encode())
        cr = assert_response_bundle(bundle)
        assert_pas_response(bundle, request)
        assert_items_answered(bundle, request)
        assert review_actions(bundle) == actions, step
        ref = ref or cr["preAuthRef"]
        assert cr["preAuthRef"] == ref  # one authorization, updated
        assert review_actions(inquire(http, initial, ref)) == actions

    bundle = submit(http, json.dumps(cancel_all).encode())
    cr = assert_response_bundle(bundle)
    assert cr["outcome"] == "complete" and "item" not in cr  # none submitted, none answered
    assert cr["adjudication"][0]["reason"]["coding"][0]["code"] == "C"
    assert review_actions(inquire(http, initial, ref)) == {1: "C", 2: "C"}


def test_updates_answer_with_the_claim_update_flagged_as_not_a_pas_claim(
    client: FlaskClient,
) -> None:
    """ClaimResponse.request targets PAS Claim, which a Claim Update is not: the reference
    stays (the answer must be traceable) and the data-absent-reason says so."""
    initial = load(SUITE_REQUEST)
    submit(client, json.dumps(initial).encode())
    update = update_of(initial, 1, add=[cushion()])
    cr = submit(client, json.dumps(update).encode())["entry"][0]["resource"]
    assert cr["request"]["reference"] == update["entry"][0]["fullUrl"]
    assert cr["request"]["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "not-permitted",
        }
    ]
    (line,) = [i for i in cr["item"] if i["itemSequence"] == 1]
    numbers = [
        e["valueString"]
        for e in line["extension"]
        if e["url"] == PAS + "extension-authorizationNumber"
    ]
    assert numbers == [f"{cr['preAuthRef']}-1"]  # the number it already held


# --- 4 error handling ----------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["submit", "inquire"])
def test_an_empty_bundle_is_refused_with_an_operation_outcome(
    client: FlaskClient, operation: str
) -> None:
    empty = load(SUITE_REQUEST)
    empty["entry"] = []
    resp = client.post(f"/fhir/Claim/${operation}", data=json.dumps(empty), content_type=FHIR_JSON)
    assert not 200 <= resp.status_code < 300
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] and outcome["issue"][0]["severity"] in ("error", "fatal")
