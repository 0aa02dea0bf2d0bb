"""Build PAS Claim Update bundles from a request bundle, the way an EHR does (REQUIREMENTS §1.3):
all items carried over with their sequences, this round's changes flagged, the prior Claim
embedded, a new Claim identifier."""

from __future__ import annotations

import copy
from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
CERT_TYPE = "https://codesystem.x12.org/005010/1322"


def _flag(item: dict[str, Any], mode: str) -> None:
    item.setdefault("extension", []).append(
        {"url": PAS + "extension-infoChanged", "valueCode": mode}
    )


def cancel_item(item: dict[str, Any]) -> None:
    item.setdefault("modifierExtension", []).append(
        {"url": PAS + "modifierextension-infoCancelled", "valueBoolean": True}
    )
    for ext in item.get("extension", []):
        if ext["url"] == PAS + "extension-certificationType":
            ext["valueCodeableConcept"] = {"coding": [{"system": CERT_TYPE, "code": "3"}]}
    _flag(item, "changed")


def update_of(
    previous: dict[str, Any],
    n: int,
    *,
    add: list[dict[str, Any]] | None = None,
    change: dict[int, dict[str, Any]] | None = None,
    cancel: tuple[int, ...] = (),
    cancel_all: bool = False,
    embed_prior: bool = True,
) -> dict[str, Any]:
    """The n-th update of ``previous`` (a request or an earlier update bundle)."""
    bundle = copy.deepcopy(previous)
    prior_entry = copy.deepcopy(previous["entry"][0])
    # The prior Claim's own predecessor is not carried along (spec-66).
    bundle["entry"] = [e for e in bundle["entry"][1:] if e["resource"]["resourceType"] != "Claim"]
    claim = copy.deepcopy(prior_entry["resource"])
    claim["meta"] = {"profile": [PAS + "profile-claim-update"]}
    base, _, _ = prior_entry["fullUrl"].rpartition("/")
    claim["id"] = f"{prior_entry['resource']['id'].split('-u')[0]}-u{n}"
    identifier = claim["identifier"][0]
    identifier["value"] = f"{identifier['value'].split('-U')[0]}-U{n}"
    claim["related"] = [
        {
            "claim": {"reference": prior_entry["fullUrl"]},
            "relationship": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship",
                        "code": "prior",
                    }
                ]
            },
        }
    ]
    for item in claim.get("item", []):  # only this round's changes are flagged
        item["extension"] = [
            e for e in item.get("extension", []) if e["url"] != PAS + "extension-infoChanged"
        ]
    for seq, fields in (change or {}).items():
        item = next(i for i in claim["item"] if i["sequence"] == seq)
        item.update(copy.deepcopy(fields))
        _flag(item, "changed")
    for seq in cancel:
        cancel_item(next(i for i in claim["item"] if i["sequence"] == seq))
    for new in add or []:
        item = copy.deepcopy(new)
        _flag(item, "added")
        claim["item"].append(item)
    if cancel_all:
        claim.setdefault("extension", []).append(
            {
                "url": PAS + "extension-certificationType",
                "valueCodeableConcept": {"coding": [{"system": CERT_TYPE, "code": "3"}]},
            }
        )
        del claim["item"]
    if prior_entry["fullUrl"].startswith("urn:uuid:"):
        full_url = prior_entry["fullUrl"][:-4] + f"{n:04d}"
    else:
        full_url = f"{base}/{claim['id']}"
    entries = [{"fullUrl": full_url, "resource": claim}, *bundle["entry"]]
    if embed_prior:
        entries.append(prior_entry)
    bundle["entry"] = entries
    bundle["identifier"] = {
        **bundle["identifier"],
        "value": f"{bundle['identifier']['value'].split('-U')[0]}-U{n}",
    }
    return bundle


def certify(node: dict[str, Any], code: str) -> None:
    """Set the X12 1322 certificationType of a Claim or item to ``code``."""
    ext = [e for e in node.get("extension", []) if e["url"] == PAS + "extension-certificationType"]
    concept = {"coding": [{"system": CERT_TYPE, "code": code}]}
    if ext:
        ext[0]["valueCodeableConcept"] = concept
    else:
        node.setdefault("extension", []).append(
            {"url": PAS + "extension-certificationType", "valueCodeableConcept": concept}
        )


def appeal_of(
    previous: dict[str, Any], n: int, *, kind: str = "2", items: tuple[int, ...] = ()
) -> dict[str, Any]:
    """The n-th update of ``previous`` as an appeal (certificationType ``kind``: 1 immediate,
    2 standard): of the whole request, or with ``items``, of those items only."""
    bundle = update_of(previous, n)
    claim = bundle["entry"][0]["resource"]
    if not items:
        certify(claim, kind)
    for seq in items:
        certify(next(i for i in claim["item"] if i["sequence"] == seq), kind)
    return bundle
