"""Example PAS request bundles, parsed into the item contexts policy conditions see.

Shared by the policy and decision tests: load an example, deep-copy and mutate it, then build
its item contexts the way ``fhirauth.operations.claim_submit.evaluate`` does.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.policy import ItemContext, Policy, load_policies
from fhirauth.policy.context import request_contexts as context_of_request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
POLICIES = ROOT / "policies"
TODAY = date(2026, 12, 1)

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


@cache
def _text(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example(name: str) -> dict[str, Any]:
    """A fresh copy of an example bundle, safe to mutate."""
    return copy.deepcopy(json.loads(_text(name)))


def claim_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


def item_of(bundle: dict[str, Any], sequence: int = 1) -> dict[str, Any]:
    (found,) = [i for i in claim_of(bundle)["item"] if i["sequence"] == sequence]
    return found


def resource_of(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]
    return found


def set_code(item: dict[str, Any], code: str, system: str = CPT) -> None:
    item["productOrService"] = {"coding": [{"system": system, "code": code}]}


def add_diagnosis(bundle: dict[str, Any], code: str) -> int:
    """Add an ICD-10-CM diagnosis to the Claim; returns its sequence."""
    diagnoses = claim_of(bundle).setdefault("diagnosis", [])
    sequence = max((d["sequence"] for d in diagnoses), default=0) + 1
    diagnoses.append(
        {
            "sequence": sequence,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": code}]},
        }
    )
    return sequence


def contexts(bundle: dict[str, Any], today: date = TODAY) -> list[ItemContext]:
    """One ItemContext per Claim item, built from the parsed request as $submit builds them."""
    req = parse_request(bundle)
    return request_contexts(req, today)


def request_contexts(req: PasRequest, today: date = TODAY) -> list[ItemContext]:
    return context_of_request(req, today)


def context(bundle: dict[str, Any], sequence: int = 1, today: date = TODAY) -> ItemContext:
    (found,) = [c for c in contexts(bundle, today) if c.sequence == sequence]
    return found


@cache
def demo_policy() -> Policy:
    """The shipped demo policy, the default of the shipped policy folder."""
    (policy,) = [p for p in load_policies([POLICIES]).policies if p.default]
    return policy
