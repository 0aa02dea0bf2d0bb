"""The 9,984 generated rules of LARGE: live codes around the measured ones, never containing
one, and LARGE's rule list with the hand-written rules interleaved."""

from __future__ import annotations

import bisect
import copy
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from fhirauth.policy.codes import CPT, HCPCS, NDC, X12_SERVICE_TYPE, canonical_system
from fhirauth.policy.loader import Policy

from .rules import (
    BENCHMARK_RULES,
    CATCH_ALL_RULE,
    LARGE_RULES,
    OVERLAPPING_RULES,
    PROBES,
    QUESTIONNAIRES,
)
from .scenarios import SCENARIOS

# Generated rules are disjoint from every measured code, so they may share the benchmark's
# priority (the loader's overlap check then has real work to do) or sit above or below it.
GENERATED_PRIORITIES = (0, 10, 10, 20)
# Every code of these systems has this length; an X12 service type has its own (1 or 2).
CODE_LENGTHS = {CPT: 5, HCPCS: 5, NDC: 11}


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
    for rule in BENCHMARK_RULES:  # keep clear of the deciding rules and the probes
        for m in rule["match"]:
            system = canonical_system(m["system"])
            for code in m["codes"]:
                lo, hi = interval(code, CODE_LENGTHS.get(system, len(code)))
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


def large_policy_rules(
    rng: random.Random, catch_all: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The generated rules, and LARGE's: the broad rules, the generated ones (with --catch-all
    one fewer, to stay at 10,000, and the catch-all rule) and the deciding rules interleaved."""
    generated = generated_rules(rng)
    if catch_all:
        generated.pop()
    rules = copy.deepcopy(OVERLAPPING_RULES) + generated
    if catch_all:
        rules.append(copy.deepcopy(CATCH_ALL_RULE))
    for rule in copy.deepcopy(BENCHMARK_RULES):
        rules.insert(rng.randrange(len(rules) + 1), rule)
    return generated, rules


def code_kinds(large: Policy, rules: list[dict[str, Any]]) -> Counter[str]:
    """Exact codes, ranges and prefixes of the rules other than the deciding ones, after
    asserting that every rule is live: a code inside each of its entries finds it in the index."""
    kinds: Counter[str] = Counter()
    bench_ids = {r["id"] for r in BENCHMARK_RULES}
    for raw in rules:
        for m in raw["match"]:
            system = canonical_system(m["system"])
            for code in m["codes"]:
                if raw["id"] not in bench_ids:
                    kind = "prefix" if code.endswith("*") else "range" if "-" in code else "exact"
                    kinds[kind] += 1
                probe = interval(code, CODE_LENGTHS.get(system, len(code.split("-")[0])))[0]
                ids = {r.id for r in large.index.lookup(system, probe)}
                assert raw["id"] in ids, (raw["id"], code, probe)
    return kinds
