"""Decision time per Claim item with 10 policy rules and with 10,000 (issue 3, point 9).

Run from the repository root::

    .venv/bin/python bench/policy_bench.py              # about 30 s on 2 cores
    .venv/bin/python bench/policy_bench.py --profile    # plus a cProfile of the LARGE loop
    .venv/bin/python bench/policy_bench.py --catch-all  # stress: one CPT-wide low-priority rule

Two policies are compiled with ``compile_policy``: SMALL holds the 10 benchmark rules the
measured items hit; LARGE holds the same 10 plus 9,984 generated rules and 6 broad
hand-written ones. The generated rules are live, not dead codes: exact codes, same-length
ranges and prefixes in the same systems, lengths and neighbourhoods as the measured codes
(ranges adjacent to and interleaved with them, prefixes sharing their leading characters),
disjoint from the measured codes so they never decide a measured item. The 6 broad rules sit
at a lower priority and contain measured codes, so they are candidates in the trace without
deciding. Item contexts come from examples/mixed-outcomes.json, parsed with ``parse_request``
once per scenario with the item codes, diagnoses, patient and documents varied; they are built
before anything is timed, and SMALL and LARGE must decide every item alike.

The script prints load time, items per second, microseconds per item for both policies and
``ratio large/small``; it exits 1 when that ratio is 2 or more. Lookup by code means the cost
of an item must not grow with the number of rules.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import gc
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fhirauth.fhir.bundle import parse_request
from fhirauth.policy.codes import CPT, HCPCS, NDC, X12_SERVICE_TYPE, canonical_system
from fhirauth.policy.context import ItemContext, claim_contexts
from fhirauth.policy.engine import evaluate_item
from fhirauth.policy.loader import Policy, compile_policy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mixed-outcomes.json"
SEED = 20260309
TARGET = 2.0
LARGE_RULES = 10_000
BENCH_PRIORITY = 10
# Generated rules are disjoint from every measured code, so they may share the benchmark's
# priority (the loader's overlap check then has real work to do) or sit above or below it.
GENERATED_PRIORITIES = (0, 10, 10, 20)
QUESTIONNAIRES = "http://demo-health-plan.example.org/fhir/Questionnaire/"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"

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


# --- Scenarios: one PAS request each, derived from examples/mixed-outcomes.json --------------
@dataclass(frozen=True)
class Scenario:
    name: str
    items: tuple[tuple[str, str, int], ...]  # (system, code, quantity)
    diagnoses: tuple[str, ...]
    expect: tuple[str, ...]  # the action per item: documents what each item exercises
    birth_date: str = "1986-04-11"
    level: str = "E"
    progress_note: bool = False


SCENARIOS = [
    Scenario("office-visit", ((CPT, "99213", 1),), ("I10",), ("NA",)),
    Scenario("mri-brain-tumor", ((CPT, "70551", 1),), ("C71.9",), ("A1",)),
    Scenario("mri-brain-headache", ((CPT, "70553", 1),), ("R51.9", "R42"), ("A4",)),
    Scenario(
        "knee-approved",
        ((CPT, "27447", 1),),
        ("M17.11",),
        ("A1",),
        birth_date="1952-06-02",
        progress_note=True,
    ),
    Scenario("knee-no-note", ((CPT, "27447", 1),), ("M17.11",), ("A4",)),
    Scenario("hair-transplant", ((CPT, "15776", 1),), ("L64.9",), ("A3",)),
    Scenario("psychotherapy", ((CPT, "90834", 12),), ("F41.1",), ("A1",)),
    Scenario("psychotherapy-over-limit", ((CPT, "90837", 24),), ("F33.1",), ("A2",)),
    Scenario("carboplatin", ((HCPCS, "J9045", 6),), ("C50.911",), ("A1",)),
    Scenario("rituximab", ((HCPCS, "J9310", 4),), ("C83.30",), ("A1",)),
    Scenario("botox-cosmetic", ((HCPCS, "J0585", 100),), ("L90.8",), ("A4",)),
    Scenario("botox-migraine", ((HCPCS, "J0587", 155),), ("G43.709",), ("A1",)),
    Scenario("cpap", ((HCPCS, "E0601", 1),), ("G47.33",), ("A1",)),
    Scenario("adalimumab", ((NDC, "00074433902", 2),), ("K50.90",), ("A4",)),
    Scenario(
        "psych-admission-emergency", ((X12_SERVICE_TYPE, "A7", 3),), ("F32.3",), ("A1",), level="03"
    ),
    Scenario("psych-admission-elective", ((X12_SERVICE_TYPE, "A7", 3),), ("F32.3",), ("A4",)),
    Scenario(
        "unlisted",
        tuple((system, code, 1) for system, codes in PROBES.items() for code in codes),
        ("M25.561",),
        ("NA",) * sum(len(c) for c in PROBES.values()),
    ),
]


def _bundle(s: Scenario, base: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(base)
    claim = bundle["entry"][0]["resource"]
    template = claim["item"][1]
    for ext in claim["extension"]:
        if ext["url"] == PAS + "extension-levelOfServiceCode":
            ext["valueCodeableConcept"]["coding"][0]["code"] = s.level
    claim["diagnosis"] = [
        {
            "sequence": n,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": code}]},
        }
        for n, code in enumerate(s.diagnoses, 1)
    ]
    claim["item"] = []
    for n, (system, code, quantity) in enumerate(s.items, 1):
        item = copy.deepcopy(template)
        item["sequence"] = n
        item["careTeamSequence"] = [1]
        item["diagnosisSequence"] = list(range(1, len(s.diagnoses) + 1))
        item["productOrService"] = {"coding": [{"system": system, "code": code}]}
        item["quantity"] = {"value": quantity, "unit": "unit"}
        claim["item"].append(item)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = s.birth_date
    if s.progress_note:
        base_url = bundle["entry"][0]["fullUrl"].rsplit("/Claim/", 1)[0]
        bundle["entry"].append(
            {
                "fullUrl": f"{base_url}/DocumentReference/rmc-note-1",
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": "rmc-note-1",
                    "status": "current",
                    "type": {"coding": [{"system": LOINC, "code": "11506-3"}]},
                    "content": [{"attachment": {"contentType": "text/plain", "data": "Tm90ZQ=="}}],
                },
            }
        )
        claim["supportingInfo"] = [
            {
                "sequence": 1,
                "category": {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASTempCodes",
                            "code": "additionalInformation",
                        }
                    ]
                },
                "valueReference": {"reference": "DocumentReference/rmc-note-1"},
            }
        ]
    return bundle


def build_contexts() -> list[tuple[str, ItemContext, str]]:
    """(scenario, context, expected action) for every measured item, built like $submit does."""
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    out = []
    for s in SCENARIOS:
        req = parse_request(_bundle(s, base))

        def resolve(ref: Any, req: Any = req) -> dict[str, Any] | None:
            if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
                return None
            found = req.resolve(ref["reference"], req.claim)
            return found[0].resource if len(found) == 1 else None

        coverage = req.coverages[0].resource if req.coverages else {}
        contexts = claim_contexts(
            req.claim.resource,
            patient=req.patient.resource,
            coverage=coverage,
            resolve=resolve,
            today=date(2026, 12, 7),
        )
        assert len(contexts) == len(s.expect), s.name
        out += [(s.name, ctx, want) for ctx, want in zip(contexts, s.expect, strict=True)]
    return out


# --- Generated rules -------------------------------------------------------------------------
class Taken:
    """Disjoint same-length code intervals per system: what rules already claim."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, int], list[tuple[str, str]]] = {}

    def free(self, system: str, lo: str, hi: str) -> bool:
        spans = self.spans.get((system, len(lo)), [])
        i = bisect.bisect_right(spans, (lo, "\x7f"))
        if i > 0 and spans[i - 1][1] >= lo:
            return False
        return not (i < len(spans) and spans[i][0] <= hi)

    def take(self, system: str, lo: str, hi: str) -> None:
        bisect.insort(self.spans.setdefault((system, len(lo)), []), (lo, hi))


def interval(code: str, length: int) -> tuple[str, str]:
    """A policy code as the interval of same-length codes it matches."""
    if code.endswith("*"):
        pad = length - len(code) + 1
        return code[:-1] + "0" * pad, code[:-1] + "Z" * pad
    lo, _, hi = code.partition("-")
    return lo, hi or lo


class Universe:
    """One code system as an ordered sequence, in blocks that ranges and prefixes stay within."""

    def __init__(self, system: str, codes: Callable[[int], str | None], size: int) -> None:
        self.system, self._codes, self.size = system, codes, size

    def code(self, i: int) -> str | None:
        return self._codes(i) if 0 <= i < self.size else None

    def index(self, code: str) -> int:
        lo, hi = 0, self.size - 1  # codes ascend with the index inside each block
        order = _order_key(code)
        while lo < hi:
            mid = (lo + hi) // 2
            c = self.code(mid)
            if c is None or _order_key(c) < order:
                lo = mid + 1
            else:
                hi = mid
        return lo


def _order_key(code: str) -> tuple[int, str]:
    return len(code), code


_HCPCS_LETTERS = "ABCEGHJKLMPQRSTV"
_X12 = [str(n) for n in range(1, 100)] + [
    a + b for a in "ABCDEFGH" for b in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
]
UNIVERSES = {
    CPT: Universe(CPT, lambda i: f"{i + 100:05d}", 99_508),
    HCPCS: Universe(HCPCS, lambda i: f"{_HCPCS_LETTERS[i // 10_000]}{i % 10_000:04d}", 160_000),
    X12_SERVICE_TYPE: Universe(X12_SERVICE_TYPE, lambda i: _X12[i], len(_X12)),
}
QUOTAS = {CPT: 5_100, HCPCS: 3_634, NDC: 1_200, X12_SERVICE_TYPE: 50}
# Gaps between pieces on the sparse pass, sized so the pieces spread over the whole system.
SPARSE_GAPS = {CPT: (4, 6, 9, 12, 15), HCPCS: (12, 20, 28, 36, 44), X12_SERVICE_TYPE: (1, 2, 3)}
assert sum(QUOTAS.values()) == LARGE_RULES - len(BENCHMARK_RULES) - len(OVERLAPPING_RULES)


def _pieces_seq(u: Universe, anchors: list[str], taken: Taken, rng: random.Random) -> Iterator[str]:
    """Exact codes, ranges and prefixes along a code system: densely around the measured codes,
    then sparsely over the whole system, never touching a code already taken."""

    def piece_at(i: int) -> tuple[str, int] | None:
        code = u.code(i)
        if code is None:
            return None
        roll = rng.random()
        if u.system != X12_SERVICE_TYPE and roll < 0.14:
            for width in (100, 10) if roll < 0.02 else (10,):
                digits = len(str(width)) - 1
                last = u.code(i + width - 1)
                if (
                    code.endswith("0" * digits)
                    and last is not None
                    and last[:-digits] == code[:-digits]
                    and taken.free(u.system, code, last)
                ):
                    return code[:-digits] + "*", width
        if roll < 0.55:
            width = rng.randint(2, 9)
            last = u.code(i + width - 1)
            if (
                last is not None
                and len(last) == len(code)
                and last[0] == code[0]
                and last > code
                and taken.free(u.system, code, last)
            ):
                return f"{code}-{last}", width
        if taken.free(u.system, code, code):
            return code, 1
        return None

    def walk(start: int, stop: int, gaps: tuple[int, ...]) -> Iterator[str]:
        i = max(start, 0)
        while i < min(stop, u.size):
            found = piece_at(i)
            if found is None:
                i += 1
                continue
            code, width = found
            lo, hi = interval(code, len(u.code(i) or ""))
            taken.take(u.system, lo, hi)
            yield code
            i += width + rng.choice(gaps)

    window = 12 if u.system == X12_SERVICE_TYPE else 260
    for anchor in anchors:
        at = u.index(anchor)
        yield from walk(at - window, at + window, (0, 0, 0, 1, 1, 2))
    for gaps in (SPARSE_GAPS[u.system], (1, 2, 3), (0, 1)):
        yield from walk(0, u.size, gaps)


def _pieces_ndc(anchor_labeler: int, taken: Taken, rng: random.Random) -> Iterator[str]:
    """NDCs (11 digits, labeler-product-package): labeler and product prefixes, package ranges
    and exact codes, densest in the labelers around the measured one."""
    near = [anchor_labeler + d for d in range(-40, 41) if d]
    far = rng.sample(range(1, 99_999), 3_000)
    for labeler in near + far:
        lab = f"{labeler:05d}"
        if rng.random() < 0.08 and taken.free(NDC, lab + "000000", lab + "ZZZZZZ"):
            taken.take(NDC, lab + "000000", lab + "ZZZZZZ")
            yield lab + "*"
            continue
        for _ in range(rng.randint(2, 6)):
            product = f"{rng.randrange(10_000):04d}"
            roll = rng.random()
            if roll < 0.25:
                code, (lo, hi) = lab + product + "*", (lab + product + "00", lab + product + "ZZ")
            elif roll < 0.5:
                a = rng.randint(1, 20)
                lo, hi = f"{lab}{product}{a:02d}", f"{lab}{product}{a + rng.randint(1, 9):02d}"
                code = f"{lo}-{hi}"
            else:
                code = lo = hi = f"{lab}{product}{rng.randint(1, 99):02d}"
            if taken.free(NDC, lo, hi):
                taken.take(NDC, lo, hi)
                yield code


_DX = ["C", "C34", "C50", "D0", "E11", "F", "F32", "G35", "G40", "G47.3", "I25", "I48", "J44",
       "K50", "M05", "M17", "M54", "N18", "Q90", "S72"]  # fmt: skip
_LOINC = ["11506-3", "18748-4", "34117-2", "11488-4", "28570-0", "18842-5", "47420-5"]
_CONDITIONS = [
    "%diagnoses.coding.where(code.startsWith('{dx}')).exists()",
    "%item.diagnosis.coding.where(code.startsWith('{dx}')).exists()",
    "%age >= {age}",
    "%age < {age}",
    "%levelOfService = '03' or %expedited",
    "%quantity <= {qty}",
    "%documents contains '{loinc}'",
    "%sex = 'female' and %age >= {age}",
]
_FAMILIES = {CPT: "procedure", HCPCS: "supply or drug", NDC: "drug", X12_SERVICE_TYPE: "service"}


def _condition(rng: random.Random) -> str:
    return rng.choice(_CONDITIONS).format(
        dx=rng.choice(_DX),
        age=rng.choice((12, 18, 21, 50, 65)),
        qty=rng.randint(1, 60),
        loinc=rng.choice(_LOINC),
    )


def _generated_rule(n: int, system: str, codes: list[str], rng: random.Random) -> dict[str, Any]:
    short = {CPT: "cpt", HCPCS: "hcpcs", NDC: "ndc", X12_SERVICE_TYPE: "x12-service-type"}[system]
    rule: dict[str, Any] = {
        "id": f"gen-{short.split('-')[0]}-{n:05d}",
        "description": f"Generated {_FAMILIES[system]} rule {n} for {', '.join(codes)}",
        "priority": rng.choice(GENERATED_PRIORITIES),
        "match": [{"system": short, "codes": codes}],
    }
    roll = rng.random()
    if roll < 0.1:
        rule.update(outcome="not-covered", reason_code="NC", reason="Excluded from the benefit.")
    elif roll < 0.4:
        rule["outcome"] = "no-auth"
    else:
        rule["outcome"] = "auth-required"
        if rng.random() < 0.3:
            rule["documentation"] = [
                {"code": rng.choice(_LOINC), "description": "Clinical documentation"}
                if rng.random() < 0.6
                else {"questionnaire": f"{QUESTIONNAIRES}q{n}", "description": "Questionnaire"}
            ]
        if rng.random() < 0.25:
            rule["approve"] = {"when": _condition(rng), "period_days": rng.choice((30, 90, 180))}
        if rng.random() < 0.04:
            rule["deny"] = {"when": _condition(rng), "reason_code": "MN", "reason": "Not needed."}
        if rng.random() < 0.1:
            rule["limit"] = {
                "quantity": rng.randint(1, 30),
                "action": rng.choice(("modify", "partial")),
                "reason": "Quantity limit.",
            }
    if rng.random() < 0.03:
        rule["when"] = _condition(rng)
    if rng.random() < 0.03:
        rule["modifiers"] = rng.sample(["RT", "LT", "50", "59", "GA"], 2)
    if rng.random() < 0.05:
        rule["place_of_service"] = rng.sample(["11", "19", "21", "22", "24"], 2)
    return rule


def generated_rules(rng: random.Random) -> list[dict[str, Any]]:
    taken = Taken()
    lengths = {CPT: 5, HCPCS: 5, NDC: 11}
    for rule in BENCHMARK_RULES:  # keep clear of the deciding rules and the probes
        for m in rule["match"]:
            system = canonical_system(m["system"])
            for code in m["codes"]:
                lo, hi = interval(code, lengths.get(system, len(code)))
                taken.take(system, lo, hi)
    for system, codes in PROBES.items():
        for code in codes:
            taken.take(system, code, code)
    measured: dict[str, list[str]] = {s: [] for s in QUOTAS}
    for s in SCENARIOS:
        for system, code, _ in s.items:
            measured[system].append(code)
    rules = []
    for system, quota in QUOTAS.items():
        if system == NDC:
            pieces = _pieces_ndc(int(measured[NDC][0][:5]), taken, rng)
        else:
            pieces = _pieces_seq(UNIVERSES[system], measured[system], taken, rng)
        made = 0
        while made < quota:
            codes = [next(pieces) for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
            rules.append(_generated_rule(len(rules) + 1, system, codes, rng))
            made += 1
    return rules


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


# --- Measuring -------------------------------------------------------------------------------
def evaluate_seconds(policy: Policy, ctx: ItemContext, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        evaluate_item(policy, ctx)
    return (time.perf_counter() - start) / reps


def lookup_seconds(policy: Policy, ctx: ItemContext, reps: int) -> float:
    lookup = policy.index.lookup
    start = time.perf_counter()
    for _ in range(reps):
        for system, code in ctx.codes:
            lookup(system, code)
    return (time.perf_counter() - start) / reps


Rounds = list[list[float]]  # [round][item] -> seconds per call


def paired_rounds(
    measure: Callable[[Policy, ItemContext, int], float],
    small: Policy,
    large: Policy,
    contexts: list[ItemContext],
    reps: int,
    rounds: int,
) -> tuple[Rounds, Rounds]:
    """Each item is timed with SMALL and LARGE back to back, in alternating order, so that
    other load on the machine and clock drift fall on both policies alike."""
    for ctx in contexts:  # warm up: lazy imports, caches, branch predictors
        measure(small, ctx, max(1, reps // 4))
        measure(large, ctx, max(1, reps // 4))
    s_rounds: Rounds = []
    l_rounds: Rounds = []
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            s_times, l_times = [], []
            for i, ctx in enumerate(contexts):
                if (r + i) % 2:
                    l_times.append(measure(large, ctx, reps))
                    s_times.append(measure(small, ctx, reps))
                else:
                    s_times.append(measure(small, ctx, reps))
                    l_times.append(measure(large, ctx, reps))
            s_rounds.append(s_times)
            l_rounds.append(l_times)
    finally:
        gc.enable()
    return s_rounds, l_rounds


def median_per_item(rounds: Rounds) -> float:
    """Median over rounds of the mean time per item in the round."""
    return statistics.median(statistics.fmean(r) for r in rounds)


def item_medians(rounds: Rounds) -> list[float]:
    return [statistics.median(r[i] for r in rounds) for i in range(len(rounds[0]))]


def spans_walked(policy: Policy, system: str, code: str) -> int:
    """How many ranges cover ``code`` (what one segment lookup returns; a diagnostic)."""
    spans = policy.index.ranges.get((system, len(code)))
    return len(spans.containing(code)) if spans is not None else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--budget", type=float, default=14.0, help="seconds for the timed rounds")
    ap.add_argument("--profile", action="store_true", help="cProfile the LARGE loop as well")
    ap.add_argument(
        "--catch-all",
        action="store_true",
        help="add to LARGE a lowest-priority rule over nearly all CPT codes (a stress case)",
    )
    args = ap.parse_args()
    rng = random.Random(SEED)

    small_doc = policy_document(copy.deepcopy(BENCHMARK_RULES))
    generated = generated_rules(rng)
    if args.catch_all:
        generated.pop()  # keeps LARGE at 10,000 rules
    large_rules = copy.deepcopy(OVERLAPPING_RULES) + generated
    if args.catch_all:
        large_rules.append(copy.deepcopy(CATCH_ALL_RULE))
    for rule in copy.deepcopy(BENCHMARK_RULES):  # interleave the deciding rules
        large_rules.insert(rng.randrange(len(large_rules) + 1), rule)
    large_doc = policy_document(large_rules)

    loads = []
    for _ in range(5):
        start = time.perf_counter()
        small = compile_policy(small_doc)
        loads.append(time.perf_counter() - start)
    small_load = statistics.median(loads)
    start = time.perf_counter()
    large = compile_policy(large_doc)
    large_load = time.perf_counter() - start
    assert len(small.rules) == len(BENCHMARK_RULES) == 10, len(small.rules)
    assert len(large.rules) == LARGE_RULES, len(large.rules)

    # Every generated rule is live: a code inside each of its entries finds it in the index.
    lengths = {CPT: 5, HCPCS: 5, NDC: 11}
    kinds: Counter[str] = Counter()
    bench_ids = {r["id"] for r in BENCHMARK_RULES}
    for raw in large_rules:
        for m in raw["match"]:
            system = canonical_system(m["system"])
            for code in m["codes"]:
                if raw["id"] not in bench_ids:
                    kind = "prefix" if code.endswith("*") else "range" if "-" in code else "exact"
                    kinds[kind] += 1
                probe = interval(code, lengths.get(system, len(code.split("-")[0])))[0]
                ids = {r.id for r in large.index.lookup(system, probe)}
                assert raw["id"] in ids, (raw["id"], code, probe)

    measured = build_contexts()
    names = [name for name, _, _ in measured]
    contexts = [ctx for _, ctx, _ in measured]

    # Sanity: SMALL and LARGE decide alike, by the same rule, as each scenario documents.
    deciders = set()
    candidates = []
    for name, ctx, want in measured:
        a, b = evaluate_item(small, ctx), evaluate_item(large, ctx)
        got = (a.action, a.rule_id, a.recommendation)
        assert got == (b.action, b.rule_id, b.recommendation), (name, got, b.action, b.rule_id)
        assert a.action == want, (name, a.action, want, a.trace.get("why"))
        deciders.add(a.rule_id)
        candidates.append((len(a.trace["candidates"]), len(b.trace["candidates"])))
    assert deciders - {None} == {r["id"] for r in BENCHMARK_RULES}, deciders
    near = sum(
        1
        for n in range(len(contexts))
        if candidates[n][1] > candidates[n][0]  # lower-priority rules among the candidates
    )

    # Size the repetitions to the time budget from one untimed pass.
    start = time.perf_counter()
    for ctx in contexts:
        evaluate_item(large, ctx)
    one_pass = time.perf_counter() - start
    reps = max(3, min(400, int(args.budget / (2 * args.rounds * one_pass))))

    s_rounds, l_rounds = paired_rounds(evaluate_seconds, small, large, contexts, reps, args.rounds)
    small_t, large_t = median_per_item(s_rounds), median_per_item(l_rounds)
    ratio = large_t / small_t
    start = time.perf_counter()
    for ctx in contexts:
        lookup_seconds(large, ctx, 10)
    lk_pass = (time.perf_counter() - start) / 10
    lk_reps = max(10, min(1000, int(args.budget / 4 / (2 * args.rounds * lk_pass))))
    ls_rounds, ll_rounds = paired_rounds(
        lookup_seconds, small, large, contexts, lk_reps, args.rounds
    )
    small_lk, large_lk = median_per_item(ls_rounds), median_per_item(ll_rounds)

    print(f"fhirauth policy benchmark  (Python {sys.version.split()[0]}, seed {SEED})")
    print(
        f"LARGE: {len(generated)} generated + {len(large_rules) - len(generated) - 10} "
        f"lower-priority overlapping{' (with --catch-all)' if args.catch_all else ''}"
        f" + {len(BENCHMARK_RULES)} benchmark rules; codes: {kinds['exact']} exact, "
        f"{kinds['range']} ranges, {kinds['prefix']} prefixes (generated + overlapping)"
    )
    print(
        f"items: {len(contexts)} from {len(SCENARIOS)} requests ({names.count('unlisted')} "
        f"unlisted); {near} items see lower-priority candidates in LARGE; "
        f"{args.rounds} rounds x {len(contexts)} items x {reps} reps, median of rounds"
    )
    print()
    print(f"{'':8}{'rules':>7}{'load ms':>10}{'us/item':>10}{'items/s':>10}{'lookup us':>11}")
    for label, pol, load, t, lk in (
        ("SMALL", small, small_load, small_t, small_lk),
        ("LARGE", large, large_load, large_t, large_lk),
    ):
        print(
            f"{label:8}{len(pol.rules):>7}{load * 1e3:>10.1f}{t * 1e6:>10.1f}"
            f"{1 / t:>10.0f}{lk * 1e6:>11.2f}"
        )
    print()
    # Per item: candidates and range spans stepped over in LARGE, lookup-only and full times.
    heads = (
        "item",
        "code",
        "action",
        "cand",
        "spans",
        "lk S us",
        "lk L us",
        "small us",
        "large us",
    )
    print(f"{heads[0]:26}{heads[1]:>12}" + "".join(f"{h:>9}" for h in heads[2:]) + "    ratio")
    s_med, l_med = item_medians(s_rounds), item_medians(l_rounds)
    ls_med, ll_med = item_medians(ls_rounds), item_medians(ll_rounds)
    for i, (name, ctx, want) in enumerate(measured):
        system, code = ctx.codes[0]
        print(
            f"{name:26}{code:>12}{want:>9}{candidates[i][1]:>9}"
            f"{spans_walked(large, system, code):>9}{ls_med[i] * 1e6:>9.2f}{ll_med[i] * 1e6:>9.2f}"
            f"{s_med[i] * 1e6:>9.1f}{l_med[i] * 1e6:>9.1f}{l_med[i] / s_med[i]:>9.2f}"
        )
    print()
    geo = statistics.geometric_mean(b / a for a, b in zip(s_med, l_med, strict=True))
    print(f"index lookup only: ratio large/small = {large_lk / small_lk:.2f} (informational)")
    print(f"geometric mean of the per-item ratios = {geo:.2f} (informational)")
    print(f"ratio large/small = {ratio:.2f} (target < {TARGET:g})")

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        for ctx in contexts:
            profiler.runcall(evaluate_seconds, large, ctx, max(1, reps // 4))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0 if ratio < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
