"""fhirauth.decision.response: Decision → PAS ClaimResponse → PAS response Bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from fhirauth.decision.decide import decide
from fhirauth.decision.response import claim_response, response_bundle
from fhirauth.fhir.bundle import Entry, PasRequest, parse_request, resolve
from fhirauth.policy import evaluate_item, load_policies

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"
MIXED = "mixed-outcomes.json"  # items 1 NA, 2 A1, 3 A4, 4 A3
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.json"))


@dataclass
class Answer:
    sent: dict[str, Any]  # the request as read from disk, untouched by the code under test
    req: PasRequest
    bundle: dict[str, Any]

    @property
    def claim_response(self) -> dict[str, Any]:
        return self.bundle["entry"][0]["resource"]


def answer(name: str) -> Answer:
    text = (ROOT / "examples" / name).read_text(encoding="utf-8")
    req = parse_request(text)
    policy = load_policies([ROOT / "policies"]).for_insurer(req.insurer.resource["identifier"])
    results = [evaluate_item(policy, i) for i in req.items]
    decision = decide(req.claim.resource, results, "PA-7F3K", NOW)
    cr = claim_response(
        req, decision, response_id="cr-7f3k", identifier_system="http://payer.example.org/pa"
    )
    bundle = response_bundle(
        req,
        cr,
        bundle_id="0f0e0d0c0b0a09080706050403020100",
        response_full_url="http://payer.example.org/fhir/ClaimResponse/cr-7f3k",
        now=NOW,
    )
    return Answer(json.loads(text), req, bundle)


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def review_action(item: dict[str, Any]) -> dict[str, Any]:
    (adjudication,) = item["adjudication"]
    (action,) = [e for e in adjudication["extension"] if e["url"] == f"{PAS}extension-reviewAction"]
    return {e["url"]: e for e in action["extension"]}


@pytest.fixture(scope="module")
def mixed() -> Answer:
    return answer(MIXED)


def test_the_claim_response_is_the_first_entry(mixed: Answer) -> None:
    kinds = [e["resource"]["resourceType"] for e in mixed.bundle["entry"]]
    assert kinds[0] == "ClaimResponse"
    assert "ClaimResponse" not in kinds[1:]


def test_each_item_sequence_equals_the_claim_item_sequence_it_answers(mixed: Answer) -> None:
    claim = mixed.sent["entry"][0]["resource"]
    assert [i["itemSequence"] for i in mixed.claim_response["item"]] == [
        i["sequence"] for i in claim["item"]
    ]


def test_review_actions_are_x12_306_codes_per_item(mixed: Answer) -> None:
    codings = {
        item["itemSequence"]: review_action(item)[f"{PAS}extension-reviewActionCode"][
            "valueCodeableConcept"
        ]["coding"][0]
        for item in mixed.claim_response["item"]
    }
    assert {s: c["code"] for s, c in codings.items()} == {1: "NA", 2: "A1", 3: "A4", 4: "A3"}
    assert {c["system"] for c in codings.values()} == {REVIEW_ACTION_SYSTEM}


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


def test_a_denied_item_points_at_a_process_note_with_the_reason(mixed: Answer) -> None:
    cr = mixed.claim_response
    (denied,) = [i for i in cr["item"] if i["itemSequence"] == 4]
    reason = review_action(denied)["reasonCode"]["valueCodeableConcept"]
    notes = {n["number"]: n["text"] for n in cr["processNote"]}
    (number,) = denied["noteNumber"]
    assert notes[number] == reason["text"]
    assert "cosmetic" in notes[number]
    assert reason["coding"][0]["code"] == "NC"


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_response_bundle_is_a_valid_r4_bundle(name: str) -> None:
    bundle = answer(name).bundle
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"


def test_what_an_echoed_resource_references_is_echoed_too(mixed: Answer) -> None:
    entries = [Entry(i, e["fullUrl"], e["resource"]) for i, e in enumerate(mixed.bundle["entry"])]
    dangling = [
        ref
        for e in entries[1:]
        for ref in references(e.resource)
        if not ref.startswith("#") and len(resolve(ref, e, entries)) != 1
    ]
    assert dangling == []
