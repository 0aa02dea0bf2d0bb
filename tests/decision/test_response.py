"""fhirauth.decision.response: Decision → PAS ClaimResponse → PAS response Bundle."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.task import Task

from fhirauth.decision.decide import Decision, decide
from fhirauth.decision.response import Naming, claim_response, response_bundle
from fhirauth.fhir.bundle import Entry, PasRequest, parse_request, resolve
from fhirauth.policy import evaluate_item, load_policies
from tests.policy.bundles import (
    EXAMPLES,
    HCPCS,
    POLICIES,
    TODAY,
    add_diagnosis,
    claim_of,
    example,
    item_of,
    request_contexts,
    set_code,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
REF = "PA-7F3K"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
REJECT_REASON_SYSTEM = "https://codesystem.x12.org/005010/901"
BASE_URL = "http://payer.example.org/fhir"
AUTHORIZATION_SYSTEM = "http://payer.example.org/fhir/sid/prior-authorization"
ATTACHMENT_SYSTEM = "http://payer.example.org/fhir/sid/attachment"
BUNDLE_ID = "0f0e0d0c0b0a09080706050403020100"
MIXED = "mixed-outcomes.json"  # items 1 NA, 2 A1, 3 A4, 4 A3
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.glob("*.json"))
BARIATRIC = "http://demo-health-plan.example.org/fhir/Questionnaire/bariatric-surgery"


def naming() -> Naming:
    counter = itertools.count(1)
    return Naming(
        BASE_URL, AUTHORIZATION_SYSTEM, ATTACHMENT_SYSTEM, lambda: f"{next(counter):032x}"
    )


@dataclass
class Answer:
    sent: dict[str, Any]  # the request as given, untouched by the code under test
    req: PasRequest
    decision: Decision
    claim_response: dict[str, Any]
    created: list[dict[str, Any]]
    bundle: dict[str, Any]

    def item(self, sequence: int) -> dict[str, Any]:
        (found,) = [i for i in self.claim_response["item"] if i["itemSequence"] == sequence]
        return found

    def entry(self, full_url: str) -> dict[str, Any]:
        (found,) = [e["resource"] for e in self.bundle["entry"] if e["fullUrl"] == full_url]
        return found


def respond(bundle: dict[str, Any], decision: Decision, req: PasRequest) -> Answer:
    names = naming()
    cr, created = claim_response(req, decision, response_id="cr-7f3k", naming=names)
    out = response_bundle(req, cr, created=created, naming=names, bundle_id=BUNDLE_ID, now=NOW)
    return Answer(bundle, req, decision, cr, created, out)


def answer(bundle: dict[str, Any]) -> Answer:
    """What the demo policy answers to this request, as $submit builds it."""
    sent = copy.deepcopy(bundle)
    req = parse_request(bundle)
    coverage = req.coverages[0].resource
    policy = load_policies([POLICIES]).select(req.insurer.resource["identifier"], coverage, TODAY)
    results = [evaluate_item(policy, c) for c in request_contexts(req)]
    return respond(sent, decide(req.claim.resource, results, REF, NOW), req)


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def review_action(node: dict[str, Any]) -> dict[str, Any]:
    """The reviewAction sub-extensions of an item or addItem, by url."""
    (adjudication,) = node["adjudication"]
    (action,) = [e for e in adjudication["extension"] if e["url"] == f"{PAS}extension-reviewAction"]
    return {e["url"]: e for e in action["extension"]}


def action_code(node: dict[str, Any]) -> str:
    concept = review_action(node)[f"{PAS}extension-reviewActionCode"]["valueCodeableConcept"]
    (coding,) = concept["coding"]
    assert coding["system"] == REVIEW_ACTION_SYSTEM
    return str(coding["code"])


def extension(node: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [e for e in node.get("extension", []) if e["url"] == PAS + name]
    return found


@pytest.fixture(scope="module")
def mixed() -> Answer:
    return answer(example(MIXED))


def many_outcomes() -> dict[str, Any]:
    """approve-ct-head.json plus items the demo policy cuts or pends for documentation:
    1 CT head (A1), 2 two wheelchairs (A6 to 1), 3 knee arthroplasty without the progress
    note (A4), 4 thirty psychotherapy visits (A2 to 20), 5 bariatric surgery without its
    questionnaire (A4)."""
    bundle = example("approve-ct-head.json")
    first = item_of(bundle)
    depression = add_diagnosis(bundle, "F33.1")
    for sequence, code, system, quantity in [
        (2, "K0001", HCPCS, 2),
        (3, "27447", None, 1),
        (4, "90837", None, 30),
        (5, "43644", None, 1),
    ]:
        added = copy.deepcopy(first)
        added["sequence"] = sequence
        set_code(added, code, *([system] if system else []))
        added["quantity"] = {"value": quantity, "unit": "unit"}
        if code == "90837":
            added["diagnosisSequence"] = [depression]
        claim_of(bundle)["item"].append(added)
    return bundle


@pytest.fixture(scope="module")
def many() -> Answer:
    return answer(many_outcomes())


# --- The bundle --------------------------------------------------------------------------------


def test_the_claim_response_is_the_first_entry(mixed: Answer) -> None:
    kinds = [e["resource"]["resourceType"] for e in mixed.bundle["entry"]]
    assert kinds[0] == "ClaimResponse"
    assert "ClaimResponse" not in kinds[1:]
    assert mixed.bundle["entry"][0]["fullUrl"] == f"{BASE_URL}/ClaimResponse/cr-7f3k"


def test_each_item_sequence_equals_the_claim_item_sequence_it_answers(mixed: Answer) -> None:
    claim = claim_of(mixed.sent)
    assert [i["itemSequence"] for i in mixed.claim_response["item"]] == [
        i["sequence"] for i in claim["item"]
    ]


def test_review_actions_are_x12_306_codes_per_item(mixed: Answer) -> None:
    assert {i["itemSequence"]: action_code(i) for i in mixed.claim_response["item"]} == {
        1: "NA",
        2: "A1",
        3: "A4",
        4: "A3",
    }


def test_a_certified_item_carries_its_authorization_number(mixed: Answer) -> None:
    number = review_action(mixed.item(2))["number"]
    assert number == {"url": "number", "valueString": f"{REF}-2"}


def test_the_claim_response_carries_the_pre_auth_ref_and_our_identifier(mixed: Answer) -> None:
    cr = mixed.claim_response
    assert cr["preAuthRef"] == REF
    assert cr["identifier"][0] == {"system": AUTHORIZATION_SYSTEM, "value": REF}


def test_every_reference_in_the_claim_response_is_the_full_url_of_an_entry(
    mixed: Answer,
) -> None:
    urls = {e["fullUrl"] for e in mixed.bundle["entry"]}
    refs = references(mixed.claim_response)
    assert len(refs) >= 4  # patient, insurer, requestor, request
    assert set(refs) <= urls


def test_echoed_entries_are_the_request_resources_byte_for_byte(mixed: Answer) -> None:
    sent = {e["fullUrl"]: e["resource"] for e in mixed.sent["entry"]}
    echoed = mixed.bundle["entry"][1:]
    assert echoed
    for entry in echoed:
        assert entry["fullUrl"] in sent
        assert orjson.dumps(entry["resource"]) == orjson.dumps(sent[entry["fullUrl"]])


def test_what_an_echoed_resource_references_is_echoed_too(mixed: Answer) -> None:
    entries = [Entry(i, e["fullUrl"], e["resource"]) for i, e in enumerate(mixed.bundle["entry"])]
    dangling = [
        ref
        for e in entries[1:]
        for ref in references(e.resource)
        if not ref.startswith("#") and len(resolve(ref, e, entries)) != 1
    ]
    assert dangling == []


def test_a_denied_item_points_at_a_process_note_with_the_reason(mixed: Answer) -> None:
    cr = mixed.claim_response
    denied = mixed.item(4)
    reason = review_action(denied)["reasonCode"]["valueCodeableConcept"]
    notes = {n["number"]: n["text"] for n in cr["processNote"]}
    (number,) = denied["noteNumber"]
    assert notes[number] == reason["text"]
    assert "cosmetic" in notes[number]
    assert reason["coding"][0]["code"] == "NC"


def test_items_without_a_reason_point_at_no_note(mixed: Answer) -> None:
    assert [i["itemSequence"] for i in mixed.claim_response["item"] if "noteNumber" in i] == [4]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_response_bundle_is_a_valid_r4_bundle(name: str) -> None:
    got = answer(example(name))
    Bundle.model_validate(got.bundle)
    assert got.bundle["type"] == "collection"
    assert got.bundle["identifier"]["value"] == "urn:uuid:0f0e0d0c-0b0a-0908-0706-050403020100"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_resource_we_create_is_a_valid_r4_resource(name: str) -> None:
    got = answer(example(name))
    ClaimResponse.model_validate(got.claim_response)
    models = {"CommunicationRequest": CommunicationRequest, "Task": Task}
    for created in got.created:
        models[created["resourceType"]].model_validate(created)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_reference_we_create_resolves_in_the_bundle(name: str) -> None:
    got = answer(example(name))
    urls = {e["fullUrl"] for e in got.bundle["entry"]}
    for resource in [got.claim_response, *got.created]:
        assert set(references(resource)) <= urls


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_other_entry_is_echoed_from_the_request_as_sent(name: str) -> None:
    got = answer(example(name))
    sent = {e["fullUrl"]: e["resource"] for e in got.sent["entry"]}
    ours = 1 + len(got.created)
    for entry in got.bundle["entry"][ours:]:
        assert sent[entry["fullUrl"]] == entry["resource"]
    assert claim_of(got.sent) in [e["resource"] for e in got.bundle["entry"][ours:]]


# --- Modified (A6) and partial (A2) ------------------------------------------------------------


def test_a_modified_item_is_answered_a6_on_the_item(many: Answer) -> None:
    assert action_code(many.item(2)) == "A6"


def test_a_modified_item_is_added_back_certified_with_the_authorized_quantity(
    many: Answer,
) -> None:
    (added,) = many.claim_response["addItem"]
    assert added["itemSequence"] == [2]
    assert added["productOrService"] == item_of(many.sent, 2)["productOrService"]
    assert added["quantity"] == {"value": 1, "unit": "unit"}
    assert action_code(added) == "A1"
    assert review_action(added)["number"]["valueString"] == f"{REF}-2"


def test_the_added_item_carries_the_authorized_period(many: Answer) -> None:
    period = extension(many.claim_response["addItem"][0], "extension-itemPreAuthPeriod")
    assert period["valuePeriod"] == {"start": "2026-12-07", "end": "2027-12-06"}


def test_a_modified_item_gives_its_reason(many: Answer) -> None:
    reason = review_action(many.item(2))["reasonCode"]["valueCodeableConcept"]
    assert reason["coding"][0]["code"] == "BEN"
    assert "wheelchair" in reason["text"]


def test_a_partially_certified_item_carries_the_authorized_quantity(many: Answer) -> None:
    partial = many.item(4)
    assert action_code(partial) == "A2"
    detail = extension(partial, "extension-itemAuthorizedDetail")
    quantity = next(e for e in detail["extension"] if e["url"] == "quantity")
    assert quantity["valueQuantity"]["value"] == 20


def test_only_modified_items_are_added_back(many: Answer) -> None:
    assert [a["itemSequence"] for a in many.claim_response["addItem"]] == [[2]]


def test_a_claim_response_with_cuts_and_pends_is_a_valid_r4_claim_response(many: Answer) -> None:
    ClaimResponse.model_validate(many.claim_response)
    Bundle.model_validate(many.bundle)


# --- Requests for documentation -----------------------------------------------------------------


def communication_requests(got: Answer) -> dict[int, dict[str, Any]]:
    """CommunicationRequest entries of the bundle by the service line they ask about."""
    out = {}
    for entry in got.bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "CommunicationRequest":
            line = extension(resource, "extension-serviceLineNumber")["valuePositiveInt"]
            out[line] = resource
    return out


def test_a_pended_item_missing_documentation_gets_a_communication_request(many: Answer) -> None:
    assert sorted(communication_requests(many)) == [3, 5]
    assert action_code(many.item(3)) == action_code(many.item(5)) == "A4"


def test_a_communication_request_asks_for_the_missing_loinc_document(many: Answer) -> None:
    request = communication_requests(many)[3]
    assert request["status"] == "active"
    (payload,) = request["payload"]
    assert payload["contentString"] == "11506-3"


def test_a_communication_request_for_a_questionnaire_asks_for_102089_0(many: Answer) -> None:
    request = communication_requests(many)[5]
    (payload,) = request["payload"]
    assert payload["contentString"] == "102089-0"
    assert BARIATRIC in request["note"][0]["text"]


def test_each_communication_request_has_an_attachment_identifier(many: Answer) -> None:
    identifiers = [r["identifier"] for r in communication_requests(many).values()]
    assert identifiers == [
        [{"system": ATTACHMENT_SYSTEM, "value": f"{REF}-3-1"}],
        [{"system": ATTACHMENT_SYSTEM, "value": f"{REF}-5-1"}],
    ]


def test_the_claim_response_references_each_communication_request_by_its_full_url(
    many: Answer,
) -> None:
    urls = {
        e["fullUrl"]
        for e in many.bundle["entry"]
        if e["resource"]["resourceType"] == "CommunicationRequest"
    }
    refs = [r["reference"] for r in many.claim_response["communicationRequest"]]
    assert len(refs) == 2
    assert set(refs) == urls
    for ref in refs:
        assert many.entry(ref)["resourceType"] == "CommunicationRequest"


def test_a_communication_request_references_resolve_in_the_bundle(many: Answer) -> None:
    urls = {e["fullUrl"] for e in many.bundle["entry"]}
    for request in communication_requests(many).values():
        assert set(references(request)) <= urls


def test_communication_requests_come_right_after_the_claim_response(many: Answer) -> None:
    kinds = [e["resource"]["resourceType"] for e in many.bundle["entry"][:3]]
    assert kinds == ["ClaimResponse", "CommunicationRequest", "CommunicationRequest"]


def test_each_communication_request_is_a_valid_r4_communication_request(many: Answer) -> None:
    for request in communication_requests(many).values():
        CommunicationRequest.model_validate(request)


def test_a_request_missing_nothing_gets_no_communication_request(mixed: Answer) -> None:
    assert mixed.created == []
    assert "communicationRequest" not in mixed.claim_response


# --- Errors (X12 AAA) ----------------------------------------------------------------------------

ERROR = ("75", "Subscriber/Insured Not Found", "Bundle.entry[3].resource.identifier")


def rejected(bundle: dict[str, Any], *, items: bool = False) -> Answer:
    """An outcome=error answer: with no items (an initial request the payer cannot process) or
    with the items the caller answers anyway (a refused update answers every submitted item)."""
    got = answer(bundle)
    decision = Decision(REF, NOW, got.decision.items if items else (), (ERROR,))
    return respond(got.sent, decision, got.req)


def test_a_request_that_cannot_be_processed_answers_outcome_error() -> None:
    cr = rejected(example(MIXED)).claim_response
    assert cr["outcome"] == "error"
    assert "Subscriber/Insured Not Found" in cr["disposition"]


def test_a_refused_update_still_answers_the_items_it_is_given() -> None:
    got = rejected(example(MIXED), items=True)
    cr = got.claim_response
    assert cr["outcome"] == "error"
    assert [i["itemSequence"] for i in cr["item"]] == [
        i["sequence"] for i in claim_of(got.sent)["item"]
    ]


def test_an_error_answer_carries_no_authorization_number() -> None:
    """Whatever the decision holds (here items 2 A1 with a number and a period), a refused
    request gets no preAuthRef, no identifier of ours and no line number, trace number,
    administrative reference or validity (issue 11: a rejected submission is not an
    authorization)."""
    got = rejected(example(MIXED), items=True)
    assert got.decision.items[1].number == f"{REF}-2" and got.decision.items[1].period
    cr = got.claim_response
    assert cr["outcome"] == "error" and "preAuthRef" not in cr
    assert all(i.get("system") != AUTHORIZATION_SYSTEM for i in cr["identifier"])
    assert REF not in orjson.dumps(got.bundle).decode()
    for item in cr["item"]:
        assert "number" not in review_action(item)
        urls = {e["url"].removeprefix(PAS) for e in item.get("extension", [])}
        assert not urls & {
            "extension-authorizationNumber",
            "extension-administrationReferenceNumber",
            "extension-itemPreAuthPeriod",
        }
    ClaimResponse.model_validate(cr)


def test_an_error_carries_its_x12_901_code_and_error_path() -> None:
    cr = rejected(example(MIXED)).claim_response
    (error,) = cr["error"]
    assert error["code"]["coding"] == [{"system": REJECT_REASON_SYSTEM, "code": "75"}]
    assert error["code"]["text"] == "Subscriber/Insured Not Found"
    path = extension(error, "extension-errorPath")
    assert path["valueString"] == "Bundle.entry[3].resource.identifier"


def test_an_error_response_answers_no_items() -> None:
    cr = rejected(example(MIXED)).claim_response
    assert "item" not in cr
    assert "addItem" not in cr


def test_an_error_response_is_a_valid_r4_claim_response() -> None:
    got = rejected(example(MIXED))
    ClaimResponse.model_validate(got.claim_response)
    Bundle.model_validate(got.bundle)


def test_an_error_response_requests_no_documentation() -> None:
    got = rejected(many_outcomes())
    assert got.created == []
    assert "communicationRequest" not in got.claim_response


CT_HEAD = "approve-ct-head.json"
PRACTITIONER = "http://ehr.example.org/fhir/Practitioner/prac-lindqvist"
ROLE = "http://ehr.example.org/fhir/PractitionerRole/role-lindqvist-ffu"


def test_a_practitioner_requestor_is_answered_through_their_practitioner_role() -> None:
    """PAS ClaimResponse.requestor is an Organization or a PractitionerRole, not a Practitioner."""
    bundle = example(CT_HEAD)
    claim_of(bundle)["provider"] = {"reference": "Practitioner/prac-lindqvist"}
    assert answer(bundle).claim_response["requestor"] == {"reference": ROLE}


def test_a_practitioner_requestor_without_a_role_leaves_the_requestor_out() -> None:
    bundle = example(CT_HEAD)
    claim_of(bundle)["provider"] = {"reference": "Practitioner/prac-lindqvist"}
    bundle["entry"] = [e for e in bundle["entry"] if e["fullUrl"] != ROLE]
    claim_of(bundle)["careTeam"][0]["provider"] = {"reference": "Practitioner/prac-lindqvist"}
    assert "requestor" not in answer(bundle).claim_response


def test_a_role_requestor_receives_documentation_requests_as_its_practitioner(
    many_outcomes_by_role: Answer,
) -> None:
    """CommunicationRequest.recipient is a Practitioner or an Organization."""
    requests = communication_requests(many_outcomes_by_role)
    assert requests
    assert all(r["recipient"] == [{"reference": PRACTITIONER}] for r in requests.values())


@pytest.fixture(scope="module")
def many_outcomes_by_role() -> Answer:
    bundle = many_outcomes()
    claim_of(bundle)["provider"] = {"reference": "PractitionerRole/role-lindqvist-ffu"}
    return answer(bundle)


def test_only_diagnosis_codes_the_binding_allows_are_communicated() -> None:
    """communicatedDiagnosis is bound (required) to X12278DiagnosisCodes: a WHO ICD-10 coding
    is not repeated, its ICD-10-CM sibling (under an older URL) is, spelled canonically."""
    bundle = example(CT_HEAD)
    (first, second) = claim_of(bundle)["diagnosis"]
    first["diagnosisCodeableConcept"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-10"
    second["diagnosisCodeableConcept"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.90"
    got = answer(bundle)
    communicated = [
        e["valueCodeableConcept"]["coding"]
        for e in got.item(1)["extension"]
        if e["url"] == PAS + "extension-communicatedDiagnosis"
    ]
    assert communicated == [
        [
            {
                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                "code": "R51.9",
                "display": "Headache, unspecified",
            }
        ]
    ]


def test_a_referenced_diagnosis_is_communicated_with_its_condition_code() -> None:
    bundle = example(CT_HEAD)
    first = claim_of(bundle)["diagnosis"][0]
    code = first.pop("diagnosisCodeableConcept")
    first["diagnosisReference"] = {"reference": "urn:uuid:7a1c56a8-0d1e-4b7e-9a44-25c1f1b8a901"}
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:7a1c56a8-0d1e-4b7e-9a44-25c1f1b8a901",
            "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/pt-2210"},
                "code": code,
            },
        }
    )
    got = answer(bundle)
    communicated = [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for e in got.item(1)["extension"]
        if e["url"] == PAS + "extension-communicatedDiagnosis"
    ]
    assert communicated == ["S06.0X0A", "R51.9"]


def test_the_authorized_code_is_repeated_in_the_spelling_its_value_set_names() -> None:
    """itemAuthorizedDetail.productOrServiceCode is bound to X12278RequestedServiceType: codings
    of other systems are left out (the corpus's LOINC line), an alias is written canonically."""
    bundle = example(CT_HEAD)
    set_code(item_of(bundle), "70450", "https://www.ama-assn.org/go/cpt")
    detail = extension(answer(bundle).item(1), "extension-itemAuthorizedDetail")
    (code,) = [e for e in detail["extension"] if e["url"] == "productOrServiceCode"]
    assert code["valueCodeableConcept"]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"
