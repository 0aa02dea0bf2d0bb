"""Corpus variants about codes: item code systems and their spellings, sibling code systems,
supportingInfo timing[x] and value[x] shapes, diagnoses and several coverages."""

# ruff: noqa: E501  (the table at the end keeps one line per variant)

from __future__ import annotations

import base64
from typing import Any

from tests.interop.shapes import (
    CT,
    KNEE,
    MIXED,
    PAS,
    PAS_CS,
    PSYCH,
    URN,
    WHEELCHAIR,
    X12,
    Bundle,
    Transform,
    Variant,
    add_entry,
    by_reference,
    claim,
    coded,
    codings,
    identity,
    patient_ref,
    pure,
    resource,
    set_code,
)

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS_HTTPS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_HTTP = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10_PCS_CMS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD10_PCS_SID = "http://hl7.org/fhir/sid/icd-10-pcs"
LOINC = "http://loinc.org"
CLAIM_INFO = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"


def _item(b: Bundle) -> dict[str, Any]:
    item: dict[str, Any] = claim(b)["item"][0]
    return item


def _institutional(b: Bundle) -> None:
    claim(b)["type"] = coded(
        "http://terminology.hl7.org/CodeSystem/claim-type", "institutional", "Institutional"
    )


# --- Item code systems --------------------------------------------------------------------------


@pure
def cpt_oid(b: Bundle) -> None:
    _item(b)["productOrService"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.12"


@pure
def cpt_two_codings(b: Bundle) -> None:
    """CPT plus the EHR's own order code, the CPT without display."""
    coding = _item(b)["productOrService"]["coding"]
    coding[0].pop("display", None)
    coding.insert(0, {"system": "urn:oid:1.2.840.114350.1.13.99.2.7.2.696580", "code": "IMG1045"})
    _item(b)["productOrService"]["text"] = "CT HEAD WO CONTRAST"


@pure
def hcpcs_https(b: Bundle) -> None:
    for c in codings(claim(b)["item"]):
        if c["system"] == HCPCS_HTTP:
            c["system"] = HCPCS_HTTPS


@pure
def hcpcs_http_cpap(b: Bundle) -> None:
    set_code(_item(b), HCPCS_HTTP, "E0601", "Continuous positive airway pressure (CPAP) device")
    _item(b)["category"] = coded(X12 + "1365", "12", "Durable Medical Equipment Purchase")


@pure
def ndc_drug(b: Bundle) -> None:
    set_code(_item(b), "http://hl7.org/fhir/sid/ndc", "50242-0150-01", "Infusion drug, 100 mg vial")
    _item(b)["category"] = coded(X12 + "1365", "88", "Pharmacy")
    _item(b)["quantity"] = {"value": 4, "unit": "vial"}


@pure
def icd10_pcs_cms(b: Bundle) -> None:
    _institutional(b)
    set_code(_item(b), ICD10_PCS_CMS, "0SRC0J9", "Replacement of right knee joint, open")


@pure
def icd10_pcs_sid(b: Bundle) -> None:
    _institutional(b)
    set_code(_item(b), ICD10_PCS_SID, "0SRC0J9", "Replacement of right knee joint, open")


@pure
def loinc_lab(b: Bundle) -> None:
    set_code(_item(b), LOINC, "51969-4", "Genetic analysis report")
    _item(b)["category"] = coded(X12 + "1365", "5", "Diagnostic Lab")


def _nubc(system: str) -> Transform:
    """An institutional line: X12 service type in productOrService, the NUBC revenue code in
    item.revenue (where PAS binds AHANUBCRevenueCodes), under one of its URL spellings."""

    @pure
    def revenue(b: Bundle) -> None:
        _institutional(b)
        _item(b)["revenue"] = coded(system, "0114", "Room & board, private, psychiatric")

    return revenue


@pure
def x12_http(b: Bundle) -> None:
    for e in b["entry"]:
        for c in codings(e["resource"]):
            if c["system"].startswith(X12):
                c["system"] = "http://" + c["system"].removeprefix("https://")


@pure
def x12_versioned(b: Bundle) -> None:
    for e in b["entry"]:
        for c in codings(e["resource"]):
            if c["system"].startswith(X12):
                c["system"] += "|005010"


@pure
def x12_coding_version(b: Bundle) -> None:
    for e in b["entry"]:
        for c in codings(e["resource"]):
            if c["system"].startswith(X12):
                c["version"] = "005010X217"


@pure
def fhir_example_siblings(b: Bundle) -> None:
    """FHIR core example code systems where PAS names X12 or CMS lists."""
    c = claim(b)
    c["item"][0]["locationCodeableConcept"] = coded(
        "http://terminology.hl7.org/CodeSystem/ex-serviceplace", "11", "Office"
    )
    c["item"][0]["category"] = coded(
        "http://terminology.hl7.org/CodeSystem/ex-benefitcategory", "4", "Diagnostic X-Ray"
    )
    c["careTeam"][0]["role"] = coded(
        "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary", "Primary provider"
    )
    c["priority"] = coded("http://terminology.hl7.org/CodeSystem/processpriority", "deferred")
    for org in (resource(b, "Organization", 0), resource(b, "Organization", 1)):
        kind = "prov" if org is resource(b, "Organization", 0) else "pay"
        org["type"] = [coded("http://terminology.hl7.org/CodeSystem/organization-type", kind)]


# --- supportingInfo ------------------------------------------------------------------------------


def _info(b: Bundle, entry: dict[str, Any], document: bool = False) -> None:
    c = claim(b)
    infos = c.setdefault("supportingInfo", [])
    entry["sequence"] = max((i["sequence"] for i in infos), default=0) + 1
    if document:
        entry["extension"] = [
            {
                "url": PAS + "extension-documentInformation",
                "extension": [
                    {"url": "reportTypeCode", "valueCodeableConcept": coded(X12 + "755", "09")},
                    {"url": "transmissionMethod", "valueCodeableConcept": coded(X12 + "756", "EL")},
                ],
            }
        ]
    infos.append(entry)
    for item in c["item"]:
        item.setdefault("informationSequence", []).append(entry["sequence"])


def _category(code: str) -> dict[str, Any]:
    return coded(PAS_CS, code)


@pure
def info_timing_date(b: Bundle) -> None:
    _info(b, {"category": _category("patientEvent"), "timingDate": "2026-11-24"})


@pure
def info_timing_period(b: Bundle) -> None:
    for info in claim(b)["supportingInfo"]:
        if info.pop("timingDate", None):
            info["timingPeriod"] = {"start": "2026-12-01", "end": "2026-12-04"}


@pure
def info_value_boolean(b: Bundle) -> None:
    _info(
        b,
        {
            "category": coded(CLAIM_INFO, "info"),
            "code": coded(LOINC, "72166-2"),
            "valueBoolean": False,
        },
    )


@pure
def info_value_string(b: Bundle) -> None:
    _info(b, {"category": _category("freeFormMessage"), "valueString": "Headache worse on waking."})


@pure
def info_value_quantity(b: Bundle) -> None:
    _info(
        b,
        {
            "category": coded(CLAIM_INFO, "info"),
            "code": coded(LOINC, "39156-5", "Body mass index"),
            "valueQuantity": {
                "value": 42.6,
                "unit": "kg/m2",
                "system": "http://unitsofmeasure.org",
                "code": "kg/m2",
            },
        },
    )


@pure
def info_value_attachment(b: Bundle) -> None:
    note = base64.b64encode(b"Progress note: persistent headache since the fall.").decode()
    attachment = {
        "contentType": "text/plain",
        "data": note,
        "title": "Progress note",
        "creation": "2026-12-01",
    }
    _info(
        b,
        {"category": _category("additionalInformation"), "valueAttachment": attachment},
        document=True,
    )


@pure
def info_questionnaire_response(b: Bundle) -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-headache-1",
        "questionnaire": "https://demohealthplan.example.org/fhir/Questionnaire/imaging",
        "status": "completed",
        "subject": {"reference": patient_ref(b)},
        "authored": "2026-12-01T15:30:00-07:00",
        "item": [{"linkId": "1", "text": "Red flags present?", "answer": [{"valueBoolean": True}]}],
    }
    ref = add_entry(b, qr)
    _info(
        b,
        {"category": _category("additionalInformation"), "valueReference": {"reference": ref}},
        document=True,
    )


@pure
def info_observation(b: Bundle) -> None:
    obs = {
        "resourceType": "Observation",
        "id": "obs-gcs-1",
        "status": "final",
        "code": coded(LOINC, "9269-2", "Glasgow coma score total"),
        "subject": {"reference": patient_ref(b)},
        "effectiveDateTime": "2026-11-24T10:00:00-07:00",
        "valueQuantity": {
            "value": 15,
            "unit": "{score}",
            "system": "http://unitsofmeasure.org",
            "code": "{score}",
        },
    }
    ref = add_entry(b, obs)
    _info(
        b,
        {"category": _category("additionalInformation"), "valueReference": {"reference": ref}},
        document=True,
    )


def info_everything(b: Bundle) -> Bundle:
    for step in (info_timing_date, info_value_boolean, info_value_string, info_value_quantity,
                 info_value_attachment, info_questionnaire_response, info_observation):  # fmt: skip
        b = step(b)
    return b


# --- Diagnoses and coverages --------------------------------------------------------------------


def _condition(b: Bundle, dx: dict[str, Any], n: int) -> str:
    condition = {
        "resourceType": "Condition",
        "id": f"cond-{n}",
        "clinicalStatus": coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
        ),
        "category": [
            coded("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis")
        ],
        "code": dx["diagnosisCodeableConcept"],
        "subject": {"reference": patient_ref(b)},
    }
    return add_entry(b, condition)


@pure
def diagnosis_references(b: Bundle) -> None:
    for n, dx in enumerate(claim(b)["diagnosis"]):
        dx["diagnosisReference"] = {"reference": _condition(b, dx, n)}
        del dx["diagnosisCodeableConcept"]


@pure
def diagnosis_mixed(b: Bundle) -> None:
    dx = claim(b)["diagnosis"][-1]
    dx["diagnosisReference"] = {"reference": _condition(b, dx, 9)}
    del dx["diagnosisCodeableConcept"]


@pure
def diagnosis_icd10_who(b: Bundle) -> None:
    for c in codings(claim(b)["diagnosis"]):
        if c["system"] == "http://hl7.org/fhir/sid/icd-10-cm":
            c["system"] = "http://hl7.org/fhir/sid/icd-10"


def _second_coverage(b: Bundle, focal_first: bool) -> None:
    c = claim(b)
    primary = by_reference(b, c["insurance"][0]["coverage"]["reference"])["resource"]
    payer = {
        "resourceType": "Organization",
        "id": "org-secondary-payer",
        "identifier": [{"system": "https://www.cms.gov/nationalpayerid", "value": "SEC77"}],
        "name": "Secondary Mutual",
    }
    payer_ref = add_entry(b, payer)
    secondary = {
        "resourceType": "Coverage",
        "id": "cov-secondary",
        "status": "active",
        "subscriberId": "SM-55501234",
        "beneficiary": {"reference": primary["beneficiary"]["reference"]},
        "relationship": coded(
            "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "spouse"
        ),
        "payor": [{"reference": payer_ref}],
        "order": 2,
    }
    primary["order"] = 1
    ins = {"sequence": 2, "focal": False, "coverage": {"reference": add_entry(b, secondary)}}
    if focal_first:
        c["insurance"].append(ins)
    else:
        c["insurance"][0]["sequence"] = 2
        ins["sequence"] = 1
        c["insurance"].insert(0, ins)


@pure
def two_coverages(b: Bundle) -> None:
    _second_coverage(b, focal_first=True)


@pure
def two_coverages_focal_second(b: Bundle) -> None:
    _second_coverage(b, focal_first=False)


# fmt: off
CODE_VARIANTS = [
    Variant("code-cpt-oid", CT, "CPT written as its OID urn:oid:2.16.840.1.113883.6.12", cpt_oid),
    Variant("code-cpt-with-local-code", CT, "CPT after the EHR's own order code, no display, with text", cpt_two_codings),
    Variant("code-hcpcs-https", WHEELCHAIR, "HCPCS under https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", hcpcs_https),
    Variant("code-hcpcs-http", CT, "HCPCS (CPAP E0601) under the older http://www.cms.gov/... spelling", hcpcs_http_cpap),
    Variant("code-ndc", CT, "A drug by NDC (http://hl7.org/fhir/sid/ndc) with a quantity in vials", ndc_drug),
    Variant("code-icd10-pcs-cms", KNEE, "Institutional procedure in ICD-10-PCS as http://www.cms.gov/Medicare/Coding/ICD10", icd10_pcs_cms),
    Variant("code-icd10-pcs-sid", KNEE, "ICD-10-PCS as http://hl7.org/fhir/sid/icd-10-pcs", icd10_pcs_sid),
    Variant("code-loinc", CT, "A lab test requested by LOINC", loinc_lab),
    Variant("code-nubc-https-www", PSYCH, "NUBC revenue code under https://www.nubc.org/CodeSystem/RevenueCodes", _nubc("https://www.nubc.org/CodeSystem/RevenueCodes")),
    Variant("code-nubc-http-www", PSYCH, "NUBC revenue code under http://www.nubc.org/CodeSystem/RevenueCodes", _nubc("http://www.nubc.org/CodeSystem/RevenueCodes")),
    Variant("code-nubc-no-www", PSYCH, "NUBC revenue code under https://nubc.org/CodeSystem/RevenueCodes", _nubc("https://nubc.org/CodeSystem/RevenueCodes")),
    Variant("code-x12-service-type", PSYCH, "Only an X12 1365 service type code (inpatient psychiatric admission)", identity),
    Variant("code-x12-http", MIXED, "Every X12 code system written http://codesystem.x12.org/...", x12_http),
    Variant("code-x12-versioned-system", CT, "X12 code systems with a |005010 version suffix on the URL", x12_versioned),
    Variant("code-x12-coding-version", CT, "X12 codings carrying Coding.version 005010X217", x12_coding_version),
    Variant("code-fhir-example-siblings", CT, "ex-serviceplace, ex-benefitcategory, claimcareteamrole, organization-type where PAS names X12/CMS lists", fhir_example_siblings),
    Variant("info-timing-date", CT, "supportingInfo patientEvent with timingDate", info_timing_date),
    Variant("info-timing-period", PSYCH, "supportingInfo admissionDates as timingPeriod", info_timing_period),
    Variant("info-value-boolean", CT, "supportingInfo (claiminformationcategory info) with valueBoolean", info_value_boolean),
    Variant("info-value-string", CT, "supportingInfo freeFormMessage with valueString", info_value_string),
    Variant("info-value-quantity", CT, "supportingInfo with a LOINC code and valueQuantity (BMI)", info_value_quantity),
    Variant("info-value-attachment", CT, "AdditionalInformation with an inline valueAttachment", info_value_attachment),
    Variant("info-reference-documentreference", KNEE, "AdditionalInformation valueReference to a DocumentReference entry", identity),
    Variant("info-reference-questionnaireresponse", CT, "AdditionalInformation valueReference to a QuestionnaireResponse entry", info_questionnaire_response),
    Variant("info-reference-observation", URN, "AdditionalInformation valueReference to an Observation entry (urn:uuid)", info_observation),
    Variant("info-everything", CT, "Every timing[x] and value[x] shape in one request", info_everything),
    Variant("dx-reference-condition", CT, "Diagnoses as diagnosisReference to Condition entries", diagnosis_references),
    Variant("dx-mixed", MIXED, "One diagnosis by reference, the others as CodeableConcept", diagnosis_mixed),
    Variant("dx-icd10-who", CT, "Diagnoses under the WHO ICD-10 system instead of ICD-10-CM", diagnosis_icd10_who),
    Variant("coverage-two-focal-first", CT, "insurance[] with two Coverages, the focal one first", two_coverages),
    Variant("coverage-two-focal-second", CT, "insurance[] with two Coverages, a non-focal secondary first", two_coverages_focal_second),
]
# fmt: on
