"""The hand-written rules of both policies: the 10 that decide every measured item, the broad
lower-priority ones LARGE adds, the --catch-all stress rule, and the codes no rule names."""

from __future__ import annotations

from typing import Any

from fhirauth.policy.codes import CPT, HCPCS, NDC, X12_SERVICE_TYPE

LARGE_RULES = 10_000
BENCH_PRIORITY = 10
QUESTIONNAIRES = "http://demo-health-plan.example.org/fhir/Questionnaire/"

# --- The 10 benchmark rules: the rules that decide every measured item, in both policies ----
BENCHMARK_RULES: list[dict[str, Any]] = [
    {
        "id": "office-visits",
        "description": "Office and outpatient E/M visits need no authorization",
        "match": [{"system": "cpt", "codes": ["99202-99215"]}],
        "outcome": "no-auth",
    },
    {
        "id": "mri-brain",
        "description": "MRI brain: approved at once for tumor, epilepsy or MS; otherwise reviewed",
        "match": [{"system": "cpt", "codes": ["70551-70553"]}],
        "place_of_service": ["19", "22", "24"],
        "outcome": "auth-required",
        "approve": {
            "when": "%item.diagnosis.coding.where(code.startsWith('C71') or "
            "code.startsWith('D33') or code.startsWith('G40') or code.startsWith('G35')).exists()",
            "period_days": 60,
        },
    },
    {
        "id": "knee-arthroplasty",
        "description": "Total knee arthroplasty needs the surgeon's progress note",
        "match": [{"system": "cpt", "codes": ["27447"]}],
        "outcome": "auth-required",
        "authorization_url": "https://demo-health-plan.example.org/um/knee-arthroplasty",
        "documentation": [{"code": "11506-3", "description": "Surgeon's progress note"}],
        "approve": {
            "when": "%age >= 50 and %item.diagnosis.coding.where(code.startsWith('M17')).exists()",
            "period_days": 120,
        },
    },
    {
        "id": "cosmetic-hair-transplant",
        "description": "Hair transplantation is cosmetic and excluded",
        "match": [{"system": "cpt", "codes": ["15775-15776"]}],
        "outcome": "not-covered",
        "reason_code": "NC",
        "reason": "Hair transplantation is a cosmetic procedure the plan excludes.",
    },
    {
        "id": "psychotherapy",
        "description": "Outpatient psychotherapy for a mental health diagnosis, 20 visits at once",
        "match": [{"system": "cpt", "codes": ["90832-90838"]}],
        "when": "%diagnoses.coding.where(code.startsWith('F')).exists()",
        "outcome": "auth-required",
        "approve": {"when": "true", "period_days": 180},
        "limit": {
            "quantity": 20,
            "action": "partial",
            "reason_code": "BEN",
            "reason": "Psychotherapy is authorized 20 visits at a time.",
            "administrative": True,
        },
    },
    {
        "id": "chemotherapy-drugs",
        "description": "Chemotherapy drugs (HCPCS J9xxx) are authorized for a cancer diagnosis",
        "match": [{"system": "hcpcs", "codes": ["J9*"]}],
        "outcome": "auth-required",
        "approve": {
            "when": "%diagnoses.coding.where(code.startsWith('C') or "
            "code.startsWith('D0')).exists()",
            "period_days": 180,
        },
    },
    {
        "id": "botulinum-toxin",
        "description": "Botulinum toxin for migraine and spasticity, never cosmetically",
        "match": [{"system": "hcpcs", "codes": ["J0585-J0588"]}],
        "outcome": "auth-required",
        "deny": {
            "when": "%diagnoses.coding.where(code.startsWith('L90') or "
            "code.startsWith('L91')).exists()",
            "reason_code": "CST",
            "reason": "Botulinum toxin for skin changes is cosmetic and not medically necessary.",
        },
        "approve": {
            "when": "%diagnoses.coding.where(code.startsWith('G43.7') or "
            "code.startsWith('G80')).exists()",
            "period_days": 90,
        },
    },
    {
        "id": "cpap",
        "description": "CPAP devices are authorized for obstructive sleep apnea",
        "match": [{"system": "hcpcs", "codes": ["E0601"]}],
        "outcome": "auth-required",
        "approve": {
            "when": "%diagnoses.coding.where(code.startsWith('G47.33')).exists()",
            "period_days": 90,
        },
    },
    {
        "id": "adalimumab",
        "description": "Adalimumab (NDC labeler 00074) needs the specialty drug questionnaire",
        "match": [{"system": "ndc", "codes": ["00074*"]}],
        "outcome": "auth-required",
        "documentation": [
            {
                "questionnaire": QUESTIONNAIRES + "specialty-drug",
                "description": "Specialty drug questionnaire",
            }
        ],
    },
    {
        "id": "inpatient-psychiatric",
        "description": "Inpatient psychiatric admission; emergencies approved for 3 days",
        "match": [{"system": "x12-service-type", "codes": ["A7"]}],
        "outcome": "auth-required",
        "approve": {"when": "%levelOfService = '03'", "period_days": 3},
    },
]
for _rule in BENCHMARK_RULES:
    _rule["priority"] = BENCH_PRIORITY

# Broad rules at a LOWER priority that contain measured codes: candidates, never deciding.
# None may contain a probe (unlisted) code, nor a code of a rule with its own `when`,
# `modifiers` or `place_of_service` that a measured item fails (psychotherapy, mri-brain).
OVERLAPPING_RULES: list[dict[str, Any]] = [
    {
        "id": "advanced-imaging-review",
        "description": "Diagnostic radiology is reviewed unless a specific rule says otherwise",
        "priority": 1,
        "match": [{"system": "cpt", "codes": ["70010-76499"]}],
        "outcome": "auth-required",
    },
    {
        "id": "head-neck-imaging-family",
        "description": "Head and neck imaging family",
        "priority": 2,
        "match": [{"system": "cpt", "codes": ["705*"]}],
        "outcome": "auth-required",
    },
    {
        "id": "knee-procedures",
        "description": "Knee procedures are reviewed",
        "priority": 1,
        "match": [{"system": "cpt", "codes": ["27440-27447"]}],
        "outcome": "auth-required",
    },
    {
        "id": "antineoplastics-j90",
        "description": "Antineoplastic drugs J90xx",
        "priority": 1,
        "match": [{"system": "hcpcs", "codes": ["J90*"]}],
        "outcome": "auth-required",
    },
    {
        "id": "labelers-0007x",
        "description": "Specialty labelers 0007x",
        "priority": 1,
        "match": [{"system": "ndc", "codes": ["0007*"]}],
        "outcome": "auth-required",
    },
    {
        "id": "inpatient-service-types",
        "description": "Inpatient service types A4-A7 are reviewed",
        "priority": 1,
        "match": [{"system": "x12-service-type", "codes": ["A4-A7"]}],
        "outcome": "auth-required",
    },
]

# --catch-all: "every other CPT code is reviewed", written as ranges that skip the probes. It
# is lower than every generated rule, so it decides nothing measured, but it is a wide range.
CATCH_ALL_RULE: dict[str, Any] = {
    "id": "all-cpt-review",
    "description": "Every CPT code no other rule names is reviewed",
    "priority": -1,
    "match": [{"system": "cpt", "codes": ["00100-27447", "27449-99215", "99217-99499"]}],
    "outcome": "auth-required",
}

# Codes no rule names in either policy (the generator keeps clear of them): unlisted items.
PROBES = {CPT: ["27448", "99216"], HCPCS: ["J0589"], NDC: ["00069015001"], X12_SERVICE_TYPE: ["A8"]}


def policy_document(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "bench-health-plan",
        "name": "Benchmark Health Plan",
        "default": True,
        "unlisted": "no-auth",
        "approval_period_days": 90,
        "adverse_decisions": "review",
        "rules": rules,
    }
