"""The measured items: one PAS request per scenario, derived from examples/mixed-outcomes.json
and parsed as $submit parses it, and the check that SMALL and LARGE decide them alike."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fhirauth.fhir.bundle import parse_request
from fhirauth.policy.codes import CPT, HCPCS, NDC, X12_SERVICE_TYPE
from fhirauth.policy.context import ItemContext, request_contexts
from fhirauth.policy.engine import evaluate_item
from fhirauth.policy.loader import Policy

from .rules import BENCHMARK_RULES, PROBES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mixed-outcomes.json"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Scenario:
    name: str
    items: tuple[tuple[str, str, int], ...]  # (system, code, quantity)
    diagnoses: tuple[str, ...]
    expect: tuple[str, ...]  # the action per item: documents what each item exercises
    birth_date: str = "1986-04-11"
    level: str = "E"
    progress_note: bool = False


SCENARIOS = [
    Scenario("office-visit", ((CPT, "99213", 1),), ("I10",), ("NA",)),
    Scenario("mri-brain-tumor", ((CPT, "70551", 1),), ("C71.9",), ("A1",)),
    Scenario("mri-brain-headache", ((CPT, "70553", 1),), ("R51.9", "R42"), ("A4",)),
    Scenario(
        "knee-approved",
        ((CPT, "27447", 1),),
        ("M17.11",),
        ("A1",),
        birth_date="1952-06-02",
        progress_note=True,
    ),
    Scenario("knee-no-note", ((CPT, "27447", 1),), ("M17.11",), ("A4",)),
    Scenario("hair-transplant", ((CPT, "15776", 1),), ("L64.9",), ("A3",)),
    Scenario("psychotherapy", ((CPT, "90834", 12),), ("F41.1",), ("A1",)),
    Scenario("psychotherapy-over-limit", ((CPT, "90837", 24),), ("F33.1",), ("A2",)),
    Scenario("carboplatin", ((HCPCS, "J9045", 6),), ("C50.911",), ("A1",)),
    Scenario("rituximab", ((HCPCS, "J9310", 4),), ("C83.30",), ("A1",)),
    Scenario("botox-cosmetic", ((HCPCS, "J0585", 100),), ("L90.8",), ("A4",)),
    Scenario("botox-migraine", ((HCPCS, "J0587", 155),), ("G43.709",), ("A1",)),
    Scenario("cpap", ((HCPCS, "E0601", 1),), ("G47.33",), ("A1",)),
    Scenario("adalimumab", ((NDC, "00074433902", 2),), ("K50.90",), ("A4",)),
    Scenario(
        "psych-admission-emergency", ((X12_SERVICE_TYPE, "A7", 3),), ("F32.3",), ("A1",), level="03"
    ),
    Scenario("psych-admission-elective", ((X12_SERVICE_TYPE, "A7", 3),), ("F32.3",), ("A4",)),
    Scenario(
        "unlisted",
        tuple((system, code, 1) for system, codes in PROBES.items() for code in codes),
        ("M25.561",),
        ("NA",) * sum(len(c) for c in PROBES.values()),
    ),
]


def _bundle(s: Scenario, base: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(base)
    claim = bundle["entry"][0]["resource"]
    template = claim["item"][1]
    for ext in claim["extension"]:
        if ext["url"] == PAS + "extension-levelOfServiceCode":
            ext["valueCodeableConcept"]["coding"][0]["code"] = s.level
    claim["diagnosis"] = [
        {
            "sequence": n,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": code}]},
        }
        for n, code in enumerate(s.diagnoses, 1)
    ]
    claim["item"] = []
    for n, (system, code, quantity) in enumerate(s.items, 1):
        item = copy.deepcopy(template)
        item["sequence"] = n
        item["careTeamSequence"] = [1]
        item["diagnosisSequence"] = list(range(1, len(s.diagnoses) + 1))
        item["productOrService"] = {"coding": [{"system": system, "code": code}]}
        item["quantity"] = {"value": quantity, "unit": "unit"}
        claim["item"].append(item)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = s.birth_date
    if s.progress_note:
        base_url = bundle["entry"][0]["fullUrl"].rsplit("/Claim/", 1)[0]
        bundle["entry"].append(
            {
                "fullUrl": f"{base_url}/DocumentReference/rmc-note-1",
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": "rmc-note-1",
                    "status": "current",
                    "type": {"coding": [{"system": LOINC, "code": "11506-3"}]},
                    "content": [{"attachment": {"contentType": "text/plain", "data": "Tm90ZQ=="}}],
                },
            }
        )
        claim["supportingInfo"] = [
            {
                "sequence": 1,
                "category": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                            "code": "additionalInformation",
                        }
                    ]
                },
                "valueReference": {"reference": "DocumentReference/rmc-note-1"},
            }
        ]
    return bundle


def build_contexts() -> list[tuple[str, ItemContext, str]]:
    """(scenario, context, expected action) for every measured item, built like $submit does."""
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    out = []
    for s in SCENARIOS:
        contexts = request_contexts(parse_request(_bundle(s, base)), date(2026, 12, 7))
        assert len(contexts) == len(s.expect), s.name
        out += [(s.name, ctx, want) for ctx, want in zip(contexts, s.expect, strict=True)]
    return out


def decide_alike(
    small: Policy, large: Policy, measured: list[tuple[str, ItemContext, str]]
) -> list[tuple[int, int]]:
    """Asserts that SMALL and LARGE decide every item alike, by the same rule, as its scenario
    documents, and that every deciding rule decides one; returns each item's candidates in
    SMALL and in LARGE."""
    deciders = set()
    candidates = []
    for name, ctx, want in measured:
        a, b = evaluate_item(small, ctx), evaluate_item(large, ctx)
        got = (a.action, a.rule_id, a.recommendation)
        assert got == (b.action, b.rule_id, b.recommendation), (name, got, b.action, b.rule_id)
        assert a.action == want, (name, a.action, want, a.trace.get("why"))
        deciders.add(a.rule_id)
        candidates.append((len(a.trace["candidates"]), len(b.trace["candidates"])))
    assert deciders - {None} == {r["id"] for r in BENCHMARK_RULES}, deciders
    return candidates
