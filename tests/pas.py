"""Checks every PAS response we produce must pass, shared by the tests."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse

from fhirauth.conformance import Registry, validate_bundle
from tests.conftest import SHARED_PAS

PACKAGE = SHARED_PAS / "packages" / "hl7.fhir.us.davinci-pas-2.2.1.tgz"

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION_SYSTEM = "https://codesystem.x12.org/005010/306"


def references(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            out.append(node["reference"])
        for value in node.values():
            out += references(value)
    elif isinstance(node, list):
        for value in node:
            out += references(value)
    return out


def review_actions(bundle: dict[str, Any]) -> dict[int, str]:
    """itemSequence → review action code, read the way the conformance suite reads it."""
    out = {}
    for item in bundle["entry"][0]["resource"].get("item", []):
        for adj in item["adjudication"]:
            for ext in adj.get("extension", []):
                if ext["url"] != PAS + "extension-reviewAction":
                    continue
                for sub in ext["extension"]:
                    if sub["url"] == PAS + "extension-reviewActionCode":
                        coding = sub["valueCodeableConcept"]["coding"][0]
                        assert coding["system"] == REVIEW_ACTION_SYSTEM
                        out[item["itemSequence"]] = coding["code"]
    return out


def assert_conformant(bundle: dict[str, Any]) -> None:
    """No error-severity issue against the IG package when ../shared holds it (REQUIREMENTS.md
    §9's defects are warnings there), nor against our stricter PAS profiles in what we wrote:
    echoed request resources are the sender's, sent back as they came (spec-33)."""
    ours = base_of(bundle)
    mine = {
        f"Bundle.entry[{n}]" for n, e in enumerate(bundle["entry"]) if e["fullUrl"].startswith(ours)
    }
    registries = [Registry().load_ours()]
    if PACKAGE.exists():
        registries.append(Registry().load_package(PACKAGE))
    errors = [
        i
        for registry in registries
        for i in validate_bundle(bundle, registry)
        if i.severity == "error"
        and (
            not i.expression
            or not i.expression[0].startswith("Bundle.entry[")
            or i.expression[0].split(".resource")[0] in mine
        )
    ]
    assert not errors, [(i.expression, i.diagnostics) for i in errors[:5]]


def base_of(response: dict[str, Any]) -> str:
    """Our FHIR base, read off the ClaimResponse's fullUrl."""
    return response["entry"][0]["fullUrl"].rsplit("/ClaimResponse/", 1)[0]


def assert_pas_response(response: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The response Bundle rules of PAS 2.2.1 (REQUIREMENTS.md §1.2, §2.3); returns the
    ClaimResponse."""
    Bundle.model_validate(response)
    assert response["type"] == "collection"
    assert response["identifier"]["system"] and response["identifier"]["value"]
    assert response["timestamp"]
    for entry in response["entry"]:
        assert entry["fullUrl"] and entry["resource"]
        assert not {"request", "response", "search"} & entry.keys()
    urls = [e["fullUrl"] for e in response["entry"]]
    assert len(urls) == len(set(urls)), "no resource twice"

    assert_conformant(response)
    cr = response["entry"][0]["resource"]
    ClaimResponse.model_validate(cr)
    assert cr["resourceType"] == "ClaimResponse"
    assert cr["status"] == "active" and cr["use"] == "preauthorization"
    assert cr["outcome"] == "complete"
    for key in (
        "patient",
        "created",
        "insurer",
        "requestor",
        "request",
        "preAuthRef",
        "preAuthPeriod",
    ):
        assert cr.get(key), f"ClaimResponse.{key} missing"

    claim_entry = request["entry"][0]
    claim = claim_entry["resource"]
    assert cr["request"]["reference"] == claim_entry["fullUrl"]
    assert [i["itemSequence"] for i in cr["item"]] == [i["sequence"] for i in claim["item"]]
    for item in cr["item"]:
        (adj,) = item["adjudication"]
        assert adj["category"]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/adjudication",
            "code": "submitted",
        }
    assert set(review_actions(response)) == {i["sequence"] for i in claim["item"]}

    # Everything the ClaimResponse references is in the bundle under that exact fullUrl, and
    # echoed resources are the request's own, with the fullUrl they had there (spec-33).
    sent = {e["fullUrl"]: e["resource"] for e in request["entry"]}
    got = {e["fullUrl"]: e["resource"] for e in response["entry"]}
    for ref in references(cr):
        assert ref in got, f"ClaimResponse references {ref}, which is not in the bundle"
    for url, resource in list(got.items())[1:]:
        if url in sent:
            assert sent[url] == resource, f"{url} is not echoed as sent"
        else:  # created by us alongside the ClaimResponse
            kind = resource["resourceType"]
            assert kind in ("CommunicationRequest", "Task"), url
            assert url == f"{base_of(response)}/{kind}/{resource['id']}"
    assert cr["id"] not in {
        r.get("id") for r in sent.values() if r["resourceType"] == "ClaimResponse"
    }
    return cr
