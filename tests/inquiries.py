"""Build PAS inquiry Bundles from a request bundle: same member, insurer and provider."""

from __future__ import annotations

import copy
import uuid
from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


def inquiry_of(
    request: dict[str, Any],
    *,
    items: list[dict[str, Any]] | None = None,
    numbers: tuple[str, ...] = (),
) -> dict[str, Any]:
    bundle = copy.deepcopy(request)
    claim = bundle["entry"][0]["resource"]
    query: dict[str, Any] = {
        "resourceType": "Claim",
        "id": f"{claim['id']}-inquiry",
        "meta": {"profile": [PAS + "profile-claim-inquiry"]},
        "identifier": [
            {
                "system": claim["identifier"][0]["system"],
                "value": f"{claim['identifier'][0]['value']}-Q",
            }
        ],
        "status": "active",
        "type": claim["type"],
        "use": "preauthorization",
        "patient": claim["patient"],
        "created": "2026-12-02T09:00:00-05:00",
        "insurer": claim["insurer"],
        "provider": claim["provider"],
        "priority": claim["priority"],
        "insurance": claim["insurance"],
    }
    if numbers:
        query["extension"] = [
            {"url": PAS + "extension-authorizationNumber", "valueString": n} for n in numbers
        ]
    if items:
        query["item"] = [{"sequence": n, **item} for n, item in enumerate(items, start=1)]
    full_url = bundle["entry"][0]["fullUrl"]
    if full_url.startswith("urn:uuid:"):  # another uuid: a suffix would make it no uuid at all
        full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, full_url + '-inquiry')}"
    else:
        full_url += "-inquiry"
    bundle["entry"][0] = {"fullUrl": full_url, "resource": query}
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != "DocumentReference"
    ]
    bundle["identifier"] = {**bundle["identifier"], "value": bundle["identifier"]["value"] + "-Q"}
    bundle["meta"] = {"profile": [PAS + "profile-pas-inquiry-request-bundle"]}
    return bundle


def code_filter(system: str, code: str, end: str | None = None, **extras: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"productOrService": {"coding": [{"system": system, "code": code}]}}
    ext = []
    if end:
        ext.append(
            {
                "url": PAS + "extension-productOrServiceCodeEnd",
                "valueCodeableConcept": {"coding": [{"system": system, "code": end}]},
            }
        )
    if "action" in extras:
        ext.append(
            {
                "url": PAS + "extension-reviewActionCode",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://codesystem.x12.org/005010/306",
                            "code": extras["action"],
                        }
                    ]
                },
            }
        )
    for name in ("IssueDate", "EffectiveDate", "ExpirationDate"):
        if name in extras:
            ext.append(
                {
                    "url": PAS + f"extension-itemCertification{name}",
                    "valueDate" if isinstance(extras[name], str) else "valuePeriod": extras[name],
                }
            )
    if ext:
        item["extension"] = ext
    return item


ANY_SERVICE = {
    "productOrService": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "not-applicable",
            }
        ]
    }
}
