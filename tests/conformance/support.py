"""Paths, examples and small helpers shared by the conformance tests."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhirauth.conformance import PAS
from fhirauth.errors import Issue

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"
IG_EXAMPLES = SHARED / "pas" / "examples"
PAS_PACKAGE = SHARED / "pas" / "packages" / "hl7.fhir.us.davinci-pas-2.2.1.tgz"
X12 = "https://codesystem.x12.org/005010/"

REQUEST_EXAMPLES = sorted(p for p in [*EXAMPLES.glob("*.json"), *EXAMPLES.glob("errors/*.json")])


@cache
def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load(path: Path) -> dict[str, Any]:
    """A fresh copy of a JSON file, safe to mutate."""
    return copy.deepcopy(_read(path))


def example(name: str) -> dict[str, Any]:
    """One of our request bundles in examples/."""
    return load(EXAMPLES / name)


def ig_example(name: str) -> dict[str, Any]:
    """One of the IG's published examples; skips when ../shared is not there."""
    path = IG_EXAMPLES / name
    if not path.exists():
        pytest.skip(f"../shared is absent: {path} is needed for this test")
    return load(path)


def ig_example_names() -> list[str]:
    return sorted(p.name for p in IG_EXAMPLES.glob("*.json")) if IG_EXAMPLES.is_dir() else []


def ext(name: str) -> str:
    return f"{PAS}extension-{name}"


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity == "error"]


def warnings(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity == "warning"]


def at(issues: list[Issue], expression: str) -> list[Issue]:
    """The issues whose expression is exactly ``expression``."""
    return [i for i in issues if expression in i.expression]


def one(issues: list[Issue], expression: str, rule: str, canonical: str) -> Issue:
    """The single error at ``expression``, asserting it names ``canonical`` and ``rule``."""
    found = [i for i in errors(at(issues, expression)) if f": {rule}: " in i.diagnostics]
    assert len(found) == 1, f"expected one {rule} error at {expression}, got {issues}"
    assert found[0].diagnostics.startswith(canonical + ": "), found[0].diagnostics
    return found[0]


def claim() -> dict[str, Any]:
    """The Claim of one of our request examples: valid against profile-claim."""
    resource: dict[str, Any] = example("approve-ct-head.json")["entry"][0]["resource"]
    return resource


def coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def claim_response() -> dict[str, Any]:
    """A small approved PAS ClaimResponse, written here."""
    return {
        "resourceType": "ClaimResponse",
        "identifier": [{"system": "urn:fhirauth:authorization-number", "value": "AUTH-1"}],
        "status": "active",
        "type": coded("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": "preauthorization",
        "patient": {"reference": "Patient/p1"},
        "created": "2026-12-01T15:30:00+00:00",
        "insurer": {"reference": "Organization/payer"},
        "requestor": {"reference": "Organization/clinic"},
        "request": {"reference": "Claim/c1"},
        "outcome": "complete",
        "item": [
            {
                "extension": [
                    {"url": ext("itemPreAuthIssueDate"), "valueDate": "2026-12-01"},
                    {
                        "url": ext("itemPreAuthPeriod"),
                        "valuePeriod": {"start": "2026-12-01", "end": "2027-02-28"},
                    },
                ],
                "itemSequence": 1,
                "adjudication": [
                    {
                        "extension": [
                            {
                                "url": ext("reviewAction"),
                                "extension": [
                                    {
                                        "url": ext("reviewActionCode"),
                                        "valueCodeableConcept": coded(X12 + "306", "A1"),
                                    },
                                    {"url": "number", "valueString": "AUTH-1"},
                                ],
                            }
                        ],
                        "category": coded(
                            "http://terminology.hl7.org/CodeSystem/adjudication", "submitted"
                        ),
                    }
                ],
            }
        ],
    }
