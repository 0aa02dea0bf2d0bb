"""Corpus variants for updates: each is submitted after its initial request, the way EHRs on
PAS 2.2.1 and on 2.0.1 write them (Claim.related ``prior`` or ``replaces``, or no ``related``
at all with the same Claim.identifier or an authorization number)."""

# ruff: noqa: E501  (the table at the end keeps one line per variant)

from __future__ import annotations

import copy
import uuid
from typing import Any

from tests.interop.shapes import (
    CT,
    MIXED,
    PAS,
    URN,
    X12,
    Bundle,
    Variant,
    claim,
    coded,
    identity,
)

RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
PAS_REVIEW = PAS + "extension-reviewAction"


def _flag(item: dict[str, Any], mode: str) -> None:
    item.setdefault("extension", []).append(
        {"url": PAS + "extension-infoChanged", "valueCode": mode}
    )


def _cancel(item: dict[str, Any], by_certification_type: bool = False) -> None:
    if by_certification_type:
        for ext in item.get("extension", []):
            if ext["url"] == PAS + "extension-certificationType":
                ext["valueCodeableConcept"] = coded(X12 + "1322", "3", "Cancel")
    else:
        item.setdefault("modifierExtension", []).append(
            {"url": PAS + "modifierextension-infoCancelled", "valueBoolean": True}
        )
    _flag(item, "changed")


def _change(item: dict[str, Any]) -> None:
    quantity = item.setdefault("quantity", {"value": 1})
    quantity["value"] = quantity.get("value", 1) + 1
    _flag(item, "changed")


def _pre_auth_ref(answer: Bundle) -> str:
    return str(answer["entry"][0]["resource"]["preAuthRef"])


def _item_numbers(answer: Bundle) -> dict[int, str]:
    out = {}
    for item in answer["entry"][0]["resource"].get("item", []):
        for adj in item["adjudication"]:
            for ext in adj.get("extension", []):
                if ext["url"] == PAS_REVIEW:
                    for sub in ext["extension"]:
                        if sub["url"] == "number":
                            out[item["itemSequence"]] = sub["valueString"]
    return out


def _update(
    initial: Bundle,
    *,
    relationship: str | None = "prior",
    embed_prior: bool = True,
    by_identifier: bool = False,
    same_identifier: bool = False,
    profile: str = PAS + "profile-claim-update",
    cancel: tuple[int, ...] = (),
    keep: tuple[int, ...] | None = None,
) -> Bundle:
    """An update of ``initial``: every kept item changed (so decided again) or cancelled."""
    b = copy.deepcopy(initial)
    prior = copy.deepcopy(b["entry"][0])
    c = claim(b)
    c["meta"] = {"profile": [profile]}
    if not same_identifier or relationship:
        c["id"] += "-u1"  # its own fullUrl: a Claim related to itself is a 400 (README, Errors)
    if not same_identifier:
        c["identifier"] = [{**c["identifier"][0], "value": c["identifier"][0]["value"] + "-U1"}]
    if prior["fullUrl"].startswith("urn:"):
        b["entry"][0]["fullUrl"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, prior['fullUrl'])}"
    else:
        b["entry"][0]["fullUrl"] = f"{prior['fullUrl'].rsplit('/', 1)[0]}/{c['id']}"
    if relationship:
        target: dict[str, Any] = {"reference": prior["fullUrl"]}
        if by_identifier:
            target = {"identifier": prior["resource"]["identifier"][0]}
        c["related"] = [{"claim": target, "relationship": coded(RELATIONSHIP, relationship)}]
    items = [i for i in c["item"] if keep is None or i["sequence"] in keep]
    for item in items:
        if item["sequence"] in cancel:
            _cancel(item)
        else:
            _change(item)
    c["item"] = items
    if embed_prior and relationship:
        b["entry"].append(prior)
    b["identifier"] = {**b["identifier"], "value": b["identifier"]["value"] + "-U1"}
    return b


def v221_prior_cancel_one(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(initial, cancel=(4,))


def v221_prior_urn(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(initial)


def v201_replaces_embedded(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(initial, relationship="replaces", profile=PAS + "profile-claim-update|2.0.1")


def v201_replaces_by_identifier(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(initial, relationship="replaces", by_identifier=True, embed_prior=False)


def v201_replaces_same_identifier(initial: Bundle, answer: Bundle) -> Bundle:
    """``replaces`` pointing at the prior Claim's fullUrl, which is not in the bundle; the
    Claim keeps the original identifier."""
    return _update(initial, relationship="replaces", embed_prior=False, same_identifier=True)


def v201_no_related_same_identifier(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(
        initial,
        relationship=None,
        same_identifier=True,
        profile=PAS + "profile-claim-update|2.0.1",
        cancel=(3,),
    )


def v201_no_related_no_profile(initial: Bundle, answer: Bundle) -> Bundle:
    """Same identifier, profile-claim (as first sent), only infoChanged flags say update."""
    return _update(initial, relationship=None, same_identifier=True, profile=PAS + "profile-claim")


def v201_authorization_number(initial: Bundle, answer: Bundle) -> Bundle:
    b = _update(initial, relationship=None)
    claim(b)["extension"].append(
        {"url": PAS + "extension-authorizationNumber", "valueString": _pre_auth_ref(answer)}
    )
    return b


def v201_item_authorization_numbers(initial: Bundle, answer: Bundle) -> Bundle:
    b = _update(initial, relationship=None, profile=PAS + "profile-claim-update|2.0.1", cancel=(1,))
    numbers = _item_numbers(answer)
    for item in claim(b)["item"]:
        item["extension"].append(
            {"url": PAS + "extension-authorizationNumber", "valueString": numbers[item["sequence"]]}
        )
    return b


def v201_differential(initial: Bundle, answer: Bundle) -> Bundle:
    """2.0.1 allowed differential updates: only the items that change are sent."""
    return _update(initial, relationship="replaces", cancel=(4,), keep=(2, 4))


def add_item(initial: Bundle, answer: Bundle) -> Bundle:
    b = _update(initial)
    new = copy.deepcopy(claim(b)["item"][0])
    new["sequence"] = 2
    new["extension"] = [e for e in new["extension"] if e["url"] != PAS + "extension-infoChanged"]
    new["productOrService"] = coded("http://www.ama-assn.org/go/cpt", "70460")
    _flag(new, "added")
    claim(b)["item"].append(new)
    return b


def cancel_everything(initial: Bundle, answer: Bundle) -> Bundle:
    return _update(initial, relationship="replaces", cancel=(1, 2, 3, 4))


def cancel_by_certification_type(initial: Bundle, answer: Bundle) -> Bundle:
    b = _update(initial)
    item = claim(b)["item"][1]
    item["extension"] = [e for e in item["extension"] if e["url"] != PAS + "extension-infoChanged"]
    _cancel(item, by_certification_type=True)
    return b


# fmt: off
UPDATE_VARIANTS = [
    Variant("update-v221-prior-cancel-one", MIXED, "2.2.1 update: related prior, prior Claim embedded, one item cancelled", identity, v221_prior_cancel_one),
    Variant("update-v221-prior-urn", URN, "2.2.1 update of a urn:uuid bundle", identity, v221_prior_urn),
    Variant("update-v201-replaces-embedded", CT, "2.0.1 update: related replaces (ex-relatedclaimrelationship), prior embedded", identity, v201_replaces_embedded),
    Variant("update-v201-replaces-identifier", CT, "2.0.1 update: related replaces naming the prior Claim by identifier only", identity, v201_replaces_by_identifier),
    Variant("update-v201-replaces-same-identifier", CT, "2.0.1 update: replaces → prior fullUrl not in the bundle, same Claim.identifier", identity, v201_replaces_same_identifier),
    Variant("update-v201-no-related-same-identifier", MIXED, "2.0.1 update without related: same Claim.identifier, claim-update|2.0.1, one item cancelled", identity, v201_no_related_same_identifier),
    Variant("update-v201-no-related-flags-only", CT, "2.0.1 update without related or update profile: same identifier, infoChanged flags", identity, v201_no_related_no_profile),
    Variant("update-v201-authorization-number", CT, "2.0.1 update without related: new identifier, Claim authorizationNumber = preAuthRef", identity, v201_authorization_number),
    Variant("update-v201-item-authorization-numbers", MIXED, "2.0.1 update without related: item-level authorizationNumbers, one item cancelled", identity, v201_item_authorization_numbers),
    Variant("update-v201-differential", MIXED, "2.0.1 differential update: only the changed and cancelled items sent", identity, v201_differential),
    Variant("update-add-item", CT, "Update adding a new item (infoChanged added) and changing the first", identity, add_item),
    Variant("update-cancel-all-items", MIXED, "Update cancelling every item with infoCancelled", identity, cancel_everything),
    Variant("update-cancel-certification-type", MIXED, "Update cancelling an item with certificationType 3 only", identity, cancel_by_certification_type),
]
# fmt: on
