"""Helpers the corpus variants are written with: load one of our examples, find and add
entries, rewrite references. Every variant is a pure function: :func:`pure` hands its body a
deep copy of the base bundle and returns that copy."""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PAS_CS = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes"
X12 = "https://codesystem.x12.org/005010/"
NPI = "http://hl7.org/fhir/sid/us-npi"

# The bases variants start from (examples/README.md says what each one asks for).
CT = "approve-ct-head.json"  # absolute fullUrls, relative references, one CPT item
MIXED = "mixed-outcomes.json"  # four CPT items, two care team members
KNEE = "approve-knee-with-note.json"  # AdditionalInformation → DocumentReference
WHEELCHAIR = "modify-wheelchair.json"  # HCPCS item, freeFormMessage supportingInfo
URN = "supporting-document.json"  # urn:uuid fullUrls and references, a DocumentReference
PSYCH = "expedited-inpatient-psych.json"  # X12 service type item, admissionDates

Bundle = dict[str, Any]
Transform = Callable[[Bundle], Bundle]
# (the initial request as sent, the response Bundle it got) → the update bundle
Update = Callable[[Bundle, Bundle], Bundle]


@dataclass(frozen=True)
class Variant:
    id: str
    base: str  # file name under examples/
    description: str  # the real-world shape this stands for
    build: Transform  # base bundle → the request (for an update: the initial request)
    update: Update | None = None  # set for updates: initial request and answer → the update


@cache
def _text(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def example(name: str) -> Bundle:
    """A fresh copy of one of our request examples."""
    data: Bundle = json.loads(_text(name))
    return data


def pure(body: Callable[[Bundle], None]) -> Transform:
    """Make an in-place edit of a bundle into a pure function returning a new bundle."""

    @functools.wraps(body)
    def transform(bundle: Bundle) -> Bundle:
        out = copy.deepcopy(bundle)
        body(out)
        return out

    return transform


def claim(bundle: Bundle) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def entries(bundle: Bundle, kind: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def resource(bundle: Bundle, kind: str, n: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = entries(bundle, kind)[n]["resource"]
    return found


def by_reference(bundle: Bundle, reference: str) -> dict[str, Any]:
    """The entry a reference made by the Claim points to (urn, absolute or Type/id)."""
    for e in bundle["entry"]:
        r = e["resource"]
        if e["fullUrl"] == reference or e["fullUrl"].endswith("/" + reference):
            return e
        if reference == f"{r['resourceType']}/{r.get('id')}":
            return e
    raise KeyError(reference)


def reference_to(bundle: Bundle, entry: dict[str, Any]) -> str:
    """How this bundle's Claim refers to ``entry``: the urn, or ``Type/id``."""
    if entry["fullUrl"].startswith("urn:"):
        return str(entry["fullUrl"])
    return f"{entry['resource']['resourceType']}/{entry['resource']['id']}"


def add_entry(bundle: Bundle, res: dict[str, Any]) -> str:
    """Append ``res`` in the bundle's fullUrl style; returns the reference to it."""
    first = bundle["entry"][0]["fullUrl"]
    if first.startswith("urn:"):
        full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(res, sort_keys=True))}"
    else:
        full_url = f"{first.rsplit('/', 2)[0]}/{res['resourceType']}/{res['id']}"
    entry = {"fullUrl": full_url, "resource": res}
    bundle["entry"].append(entry)
    return reference_to(bundle, entry)


def patient_ref(bundle: Bundle) -> str:
    return str(claim(bundle)["patient"]["reference"])


def references(node: Any) -> list[dict[str, Any]]:
    """Every Reference object (a dict with a string ``reference``) under ``node``."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            out.append(node)
        for value in node.values():
            out += references(value)
    elif isinstance(node, list):
        for value in node:
            out += references(value)
    return out


def coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def codings(node: Any) -> list[dict[str, Any]]:
    """Every Coding (a dict with ``system`` and ``code``) under ``node``."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and "code" in node:
            out.append(node)
        for value in node.values():
            out += codings(value)
    elif isinstance(node, list):
        for value in node:
            out += codings(value)
    return out


def set_code(item: dict[str, Any], system: str, code: str, display: str) -> None:
    item["productOrService"] = coded(system, code, display)
    item.pop("modifier", None)


def identity(bundle: Bundle) -> Bundle:
    """The base as it is: the example already has the shape the table line names."""
    return copy.deepcopy(bundle)
