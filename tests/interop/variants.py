"""The robustness corpus: PAS request bundles in the shapes real EHR senders produce.

Each variant is a small pure function over one of our own ``examples/*.json`` (never a file
from ../shared) with one line in :data:`VARIANTS` saying which real-world shape it stands
for. This module holds the Claim, reference, requestor, extension, profile, must-support and
Bundle-level shapes; ``variants_codes`` the code systems, supportingInfo, diagnoses and
coverages; ``variants_updates`` the updates.
"""

# ruff: noqa: E501  (the table at the end keeps one line per variant)

from __future__ import annotations

import copy
import uuid

from tests.interop.shapes import (
    CT,
    KNEE,
    MIXED,
    NPI,
    PAS,
    URN,
    WHEELCHAIR,
    Bundle,
    Variant,
    by_reference,
    claim,
    coded,
    identity,
    pure,
    reference_to,
    references,
    resource,
)
from tests.interop.variants_codes import CODE_VARIANTS
from tests.interop.variants_updates import UPDATE_VARIANTS

UNKNOWN = "https://ehr-vendor.example.com/fhir/StructureDefinition/"

# --- PAS 2.0.1 shapes ----------------------------------------------------------------------------


@pure
def coverage_subscriber_id_only(b: Bundle) -> None:
    cov = resource(b, "Coverage")
    member = cov.pop("identifier")[0]["value"]
    cov["subscriberId"] = member
    patient = resource(b, "Patient")
    patient["identifier"] = [i for i in patient["identifier"] if i["value"] != member]


@pure
def coverage_without_relationship(b: Bundle) -> None:
    del resource(b, "Coverage")["relationship"]


@pure
def additional_information_without_document_information(b: Bundle) -> None:
    for info in claim(b)["supportingInfo"]:
        info.pop("extension", None)


@pure
def insurer_payer_id_not_npi(b: Bundle) -> None:
    resource(b, "Organization", 1)["identifier"] = [
        {"system": "https://www.cms.gov/nationalpayerid", "value": "DHP01"},
        {"system": "urn:oid:2.16.840.1.113883.3.221.5", "value": "60054"},
    ]


@pure
def items_without_location(b: Bundle) -> None:
    for item in claim(b)["item"]:
        item.pop("locationCodeableConcept", None)


@pure
def profiles_v201(b: Bundle) -> None:
    for e in b["entry"]:
        meta = e["resource"].get("meta") or {}
        meta["profile"] = [f"{p}|2.0.1" for p in meta.get("profile", [])]
    b["meta"]["profile"] = [f"{p}|2.0.1" for p in b["meta"]["profile"]]


def v201_claim(b: Bundle) -> Bundle:
    """Everything a 2.0.1 sender leaves out or writes differently, in one request."""
    for step in (
        coverage_subscriber_id_only,
        coverage_without_relationship,
        insurer_payer_id_not_npi,
        items_without_location,
        profiles_v201,
    ):
        b = step(b)
    return b


# --- fullUrls and references -------------------------------------------------------------------


def _rewrite(b: Bundle, target: dict[int, str]) -> None:
    """Give entry n the fullUrl target[n] and point every reference at the new fullUrl."""
    old = {e["fullUrl"]: n for n, e in enumerate(b["entry"])}
    by_kind_id = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": n
        for n, e in enumerate(b["entry"])
    }
    for e in b["entry"]:
        for ref in references(e["resource"]):
            n = old.get(ref["reference"], by_kind_id.get(ref["reference"]))
            if n is not None:
                ref["reference"] = target[n]
    for n, e in enumerate(b["entry"]):
        e["fullUrl"] = target[n]


@pure
def urn_uuid_everywhere(b: Bundle) -> None:
    _rewrite(
        b,
        {
            n: f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, e['fullUrl'])}"
            for n, e in enumerate(b["entry"])
        },
    )


@pure
def absolute_references(b: Bundle) -> None:
    _rewrite(b, {n: e["fullUrl"] for n, e in enumerate(b["entry"])})


@pure
def mixed_references(b: Bundle) -> None:
    """Claim refers by absolute URL, the others by Type/id; the Coverage lives under a
    different server base than the Claim (as when a clearinghouse merges two systems)."""
    c = claim(b)
    for name in ("patient", "insurer", "provider"):
        c[name]["reference"] = by_reference(b, c[name]["reference"])["fullUrl"]
    cov_entry = by_reference(b, c["insurance"][0]["coverage"]["reference"])
    cov_entry["fullUrl"] = (
        "https://payer-portal.example.org/fhir/Coverage/" + cov_entry["resource"]["id"]
    )
    c["insurance"][0]["coverage"]["reference"] = cov_entry["fullUrl"]
    cov = cov_entry["resource"]
    cov["beneficiary"]["reference"] = c["patient"]["reference"]
    for payor in cov["payor"]:
        payor["reference"] = c["insurer"]["reference"]


@pure
def urn_fullurls_with_type_id_references(b: Bundle) -> None:
    """urn:uuid fullUrls, but references written Type/id as the EHR's own server had them."""
    ids = {e["fullUrl"]: e["resource"] for e in b["entry"]}
    for e in b["entry"]:
        for ref in references(e["resource"]):
            target = ids.get(ref["reference"])
            if target is not None:
                ref["reference"] = f"{target['resourceType']}/{target['id']}"


# --- Requestor ---------------------------------------------------------------------------------


@pure
def requestor_practitioner_role(b: Bundle) -> None:
    claim(b)["provider"] = {"reference": claim(b)["careTeam"][0]["provider"]["reference"]}


@pure
def requestor_practitioner(b: Bundle) -> None:
    role = resource(b, "PractitionerRole")
    claim(b)["provider"] = {"reference": role["practitioner"]["reference"]}


@pure
def requestor_npi_only(b: Bundle) -> None:
    org = by_reference(b, claim(b)["provider"]["reference"])["resource"]
    npi = next(i for i in org["identifier"] if i["system"] == NPI)
    for key in list(org):
        if key not in ("resourceType", "id"):
            del org[key]
    org.update({"identifier": [{"system": NPI, "value": npi["value"]}], "name": "Foothills FUC"})


@pure
def provider_reference_with_identifier(b: Bundle) -> None:
    org = by_reference(b, claim(b)["provider"]["reference"])["resource"]
    claim(b)["provider"].update({"identifier": org["identifier"][0], "display": org["name"]})
    claim(b)["insurer"]["display"] = "Demo Health Plan"


# --- Extensions, narrative, profiles -----------------------------------------------------------


def _vendor_extension(name: str) -> dict[str, object]:
    return {
        "url": UNKNOWN + name,
        "extension": [
            {"url": "source", "valueString": "EpicCare"},
            {"url": "recorded", "valueDateTime": "2026-12-01T15:40:00-07:00"},
        ],
    }


@pure
def unknown_extensions(b: Bundle) -> None:
    c = claim(b)
    c["extension"].append(_vendor_extension("claim-routing"))
    c["extension"].append({"url": UNKNOWN + "order-id", "valueIdentifier": {"value": "ORD-88"}})
    for item in c["item"]:
        item["extension"].append({"url": UNKNOWN + "order-priority", "valueCode": "routine"})
    resource(b, "Patient").setdefault("extension", []).append(
        {
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
            "valueCode": "M",
        }
    )
    resource(b, "Patient")["extension"].append(_vendor_extension("patient-portal"))
    resource(b, "Coverage").setdefault("extension", []).append(
        {"url": UNKNOWN + "card-issue-date", "valueDate": "2026-01-01"}
    )


@pure
def unknown_modifier_extensions_echoed(b: Bundle) -> None:
    for kind in ("Patient", "Practitioner", "PractitionerRole"):
        resource(b, kind)["modifierExtension"] = [
            {"url": UNKNOWN + "confidential-record", "valueBoolean": True}
        ]


@pure
def unknown_modifier_extensions_claim(b: Bundle) -> None:
    c = claim(b)
    c["modifierExtension"] = [{"url": UNKNOWN + "pilot-program", "valueBoolean": False}]
    for item in c["item"]:
        item["modifierExtension"] = [{"url": UNKNOWN + "internal-hold", "valueBoolean": False}]


@pure
def narratives(b: Bundle) -> None:
    for e in b["entry"]:
        kind = e["resource"]["resourceType"]
        e["resource"]["text"] = {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{kind} as sent by the EHR</p></div>',
        }


@pure
def no_meta_profile(b: Bundle) -> None:
    for res in [b, *(e["resource"] for e in b["entry"])]:
        res.pop("meta", None)


@pure
def unknown_profiles(b: Bundle) -> None:
    for e in b["entry"]:
        kind = e["resource"]["resourceType"]
        e["resource"]["meta"] = {
            "profile": [
                f"{UNKNOWN}{kind.lower()}",
                "http://hl7.org/fhir/us/core/StructureDefinition/us-core-" + kind.lower(),
            ],
            "lastUpdated": "2026-12-01T15:41:00-07:00",
            "source": "#ehr-node-3",
        }


# --- Must-support elements missing --------------------------------------------------------------


@pure
def no_care_team(b: Bundle) -> None:
    del claim(b)["careTeam"]
    for item in claim(b)["item"]:
        item.pop("careTeamSequence", None)


@pure
def no_diagnosis(b: Bundle) -> None:
    del claim(b)["diagnosis"]
    for item in claim(b)["item"]:
        item.pop("diagnosisSequence", None)


@pure
def no_item_category(b: Bundle) -> None:
    for item in claim(b)["item"]:
        item.pop("category", None)


@pure
def no_quantity(b: Bundle) -> None:
    for item in claim(b)["item"]:
        item.pop("quantity", None)


@pure
def no_service_dates(b: Bundle) -> None:
    for item in claim(b)["item"]:
        item.pop("servicedDate", None)
        item.pop("servicedPeriod", None)


@pure
def no_bundle_identifier(b: Bundle) -> None:
    del b["identifier"]


@pure
def no_bundle_timestamp(b: Bundle) -> None:
    del b["timestamp"]


@pure
def bare_minimum(b: Bundle) -> None:
    """Only what R4 and a decision need: no careTeam, diagnosis, extensions, profiles."""
    c = claim(b)
    for key in ("careTeam", "diagnosis", "extension", "meta"):
        c.pop(key, None)
    for item in c["item"]:
        for key in ("extension", "careTeamSequence", "diagnosisSequence", "category", "quantity"):
            item.pop(key, None)
    for key in ("identifier", "timestamp", "meta"):
        b.pop(key, None)
    b["entry"] = [
        e
        for e in b["entry"]
        if e["resource"]["resourceType"] not in ("PractitionerRole", "Practitioner")
    ]


# --- Updates of requests this payer never received ----------------------------------------------


@pure
def update_of_a_request_never_received(b: Bundle) -> None:
    """A Claim Update whose Claim.related ``prior`` names a prior Claim the bundle carries
    along, which this payer never received (the request is its first contact)."""
    prior = copy.deepcopy(b["entry"][0])
    prior["resource"]["id"] = "earlier-request"
    prior["resource"]["identifier"] = [
        {"system": "https://ehr-vendor.example.com/fhir/prior-requests", "value": "EARLIER-1"}
    ]
    prior["fullUrl"] = prior["fullUrl"].rsplit("/", 1)[0] + "/earlier-request"
    b["entry"].append(prior)
    c = claim(b)
    c["meta"] = {"profile": [PAS + "profile-claim-update"]}
    c["related"] = [
        {
            "claim": {"reference": reference_to(b, prior)},
            "relationship": coded(
                "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "prior"
            ),
        }
    ]


# --- Bundle envelope -----------------------------------------------------------------------------


def parameters_wrapped(b: Bundle) -> Bundle:
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": b}]}


@pure
def bundle_type_transaction(b: Bundle) -> None:
    b["type"] = "transaction"
    for e in b["entry"]:
        kind = e["resource"]["resourceType"]
        e["request"] = {"method": "POST", "url": kind}


@pure
def bundle_type_batch(b: Bundle) -> None:
    b["type"] = "batch"
    for e in b["entry"]:
        r = e["resource"]
        e["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}


# fmt: off
CLAIM_VARIANTS = [
    Variant("baseline-relative-refs", CT, "Absolute http fullUrls with relative Type/id references (most EHR FHIR servers)", identity),
    Variant("baseline-urn-uuid", URN, "urn:uuid fullUrls with urn:uuid references (bundles assembled in memory)", identity),
    Variant("v201-coverage-subscriber-id", CT, "2.0.1 Coverage: no identifier, member id only in subscriberId", coverage_subscriber_id_only),
    Variant("v201-coverage-no-relationship", CT, "2.0.1 Coverage without relationship", coverage_without_relationship),
    Variant("v201-additional-info-no-docinfo", KNEE, "2.0.1 AdditionalInformation supportingInfo without extension-documentInformation", additional_information_without_document_information),
    Variant("v201-insurer-payer-id", CT, "Insurer identified by a payer id / OID, not an NPI (2.0.1 senders, clearinghouses)", insurer_payer_id_not_npi),
    Variant("v201-item-no-location", MIXED, "Items without location[x] (2.0.1 made it optional)", items_without_location),
    Variant("v201-profiles", CT, "meta.profile pointing at the 2.0.1 canonicals (|2.0.1)", profiles_v201),
    Variant("v201-claim", MIXED, "A whole 2.0.1-era request: subscriberId, no relationship, payer id, no location, |2.0.1 profiles", v201_claim),
    Variant("refs-urn-uuid", CT, "An absolute-URL bundle re-keyed to urn:uuid fullUrls and references", urn_uuid_everywhere),
    Variant("refs-absolute", CT, "Every reference written as the target's absolute fullUrl", absolute_references),
    Variant("refs-mixed", CT, "Absolute and relative references mixed, one entry under another server base", mixed_references),
    Variant("refs-urn-fullurl-type-id", URN, "urn:uuid fullUrls but references written Type/id", urn_fullurls_with_type_id_references),
    Variant("requestor-practitionerrole", CT, "Claim.provider is the ordering PractitionerRole", requestor_practitioner_role),
    Variant("requestor-organization", MIXED, "Claim.provider is the clinic Organization with several care team members", identity),
    Variant("requestor-practitioner", CT, "Claim.provider is a Practitioner (solo practitioner)", requestor_practitioner),
    Variant("requestor-npi-only", CT, "Provider Organization known only by its NPI and a name", requestor_npi_only),
    Variant("provider-reference-and-identifier", CT, "Claim.provider with reference, identifier and display", provider_reference_with_identifier),
    Variant("unknown-extensions", CT, "Vendor extensions on Claim, item, Patient and Coverage", unknown_extensions),
    Variant("unknown-modifierextensions-echoed", CT, "Unknown modifierExtensions on Patient, Practitioner, PractitionerRole (only echoed)", unknown_modifier_extensions_echoed),
    Variant("unknown-modifierextensions-claim", MIXED, "Unknown modifierExtensions on the Claim and its items", unknown_modifier_extensions_claim),
    Variant("text-narrative", CT, "Generated text narrative on every resource", narratives),
    Variant("no-meta-profile", CT, "No meta.profile anywhere (EHRs that never declare profiles)", no_meta_profile),
    Variant("unknown-profiles", CT, "meta.profile naming vendor and US Core profiles, plus lastUpdated and source", unknown_profiles),
    Variant("no-careteam", MIXED, "No careTeam (and no careTeamSequence)", no_care_team),
    Variant("no-diagnosis", MIXED, "No diagnosis (and no diagnosisSequence)", no_diagnosis),
    Variant("no-item-category", MIXED, "No item.category", no_item_category),
    Variant("no-quantity", WHEELCHAIR, "No item.quantity", no_quantity),
    Variant("no-serviced-date", MIXED, "No servicedDate or servicedPeriod on any item", no_service_dates),
    Variant("no-bundle-identifier", CT, "No Bundle.identifier", no_bundle_identifier),
    Variant("no-bundle-timestamp", CT, "No Bundle.timestamp", no_bundle_timestamp),
    Variant("bare-minimum", MIXED, "Only what R4 requires plus member id and codes; no practitioners at all", bare_minimum),
    Variant("parameters-wrapped", CT, "The Bundle wrapped in Parameters.parameter[name=resource]", parameters_wrapped),
    Variant("bundle-transaction", CT, "Bundle.type transaction with entry.request (tolerated with a warning)", bundle_type_transaction),
    Variant("bundle-batch", CT, "Bundle.type batch with entry.request PUTs (tolerated with a warning)", bundle_type_batch),
    Variant("update-of-unknown-prior", MIXED, "A Claim Update (related prior → a prior Claim it carries) for a request never sent here, as a conformance kit's must-support input", update_of_a_request_never_received),
]
# fmt: on

VARIANTS: list[Variant] = [*CLAIM_VARIANTS, *CODE_VARIANTS, *UPDATE_VARIANTS]
