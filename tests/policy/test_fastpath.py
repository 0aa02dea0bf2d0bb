"""fhirauth.policy.fastpath: conditions answered without fhirpathpy's interpreter, exactly as
fhirpathpy answers them (errors included), or left to it."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhirauth.errors import Invalid
from fhirauth.fhir.bundle import parse_request
from fhirauth.policy.conditions import VARIABLES, Condition, compile_condition
from fhirauth.policy.context import request_contexts
from fhirauth.policy.fastpath import Defer, compile_fast

ROOT = Path(__file__).resolve().parent.parent.parent


def _policy_conditions() -> list[str]:
    out: list[str] = []

    def collect(when: Any) -> None:
        out.extend([when] if isinstance(when, str) else when or [])

    for path in sorted((ROOT / "policies").glob("*.y*ml")):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            collect(rule.get("when"))
            for part in ("approve", "deny"):
                collect((rule.get(part) or {}).get("when"))
    return out


POLICY_CONDITIONS = _policy_conditions()
EXPRESSIONS = sorted(
    set(POLICY_CONDITIONS)
    | {
        "true",
        "false",
        "{}",
        "(%age >= 18)",
        "18 <= %age",
        "%age = 40",
        "%age != 40",
        "%age > 1.5",
        "%quantity <= 2",
        "%quantity > 1.5",
        "%levelOfService != '03'",
        "'11506-3' in %documents",
        "%documents contains %levelOfService",
        "%sex = 'female' and %quantity <= 2",
        "%serviceDate >= '2026-01-01'",
        "%expedited",
        "%expedited and true",
        "%expedited or %age > 1",
        "true or {}",
        "{} and false",
        "%age.exists() or %sex.exists()",
        "%item.diagnosis",
        "%item.diagnosis.exists() and %diagnoses.exists()",
        "%item.diagnosis.coding.code.startsWith('C')",
        "%item.`diagnosis`.coding.exists()",
        "%item.sequence = 1",
        "%claim.item.exists()",
        "%diagnoses",
        "%diagnoses.coding.code",
        "%diagnoses.coding.where(code.startsWith('')).exists()",
        "%diagnoses.coding.where(code.startsWith('C') and %expedited).exists()",
        "%diagnoses.coding.where(code.startsWith('C')).code",
        "%diagnoses.coding.where(code.startsWith('C')).code.startsWith('C7')",
        "%diagnoses.where(coding.exists()).exists()",
        "%diagnoses.where(coding).exists()",
        "%diagnoses.where(%age >= 18).exists()",
        "%documents.where('x' in %documents).exists()",
        "%context.exists()",
        "%item.diagnosis.coding.where(code.startsWith('M17')).exists() or %age < 18",
    }
)

CODES: list[Any] = ["C71.9", "C", "M17.11", "F84.0", "G47.33", "D0", "L90", "", "c71", 71]
CODES += [7.5, True, None, ["C71"], {"x": 1}, "G40.909", "R51.9"]


def _code(rng: random.Random) -> Any:
    return rng.choice(CODES)


def _coding(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.04:
        return rng.choice([None, "C71", 3, [], [{"code": "C71"}]])
    coding: dict[str, Any] = {"system": "http://hl7.org/fhir/sid/icd-10-cm"}
    if rng.random() < 0.9:
        coding["code"] = _code(rng)
    if rng.random() < 0.05:
        coding["_code"] = {"extension": [{"url": "x", "valueString": "y"}]}
    return coding


def _concept(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([None, "C71", {"extension": []}, {"text": "x"}])
    codings: Any = [_coding(rng) for _ in range(rng.randrange(0, 4))]
    if rng.random() < 0.1:
        codings = codings[0] if codings else None
    return {"coding": codings}


def _diagnoses(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(
            [
                None,
                [],
                [None],
                [[{"coding": [{"code": "C71"}]}]],
                "C71",
                [True],
                [{"extension": [1]}, True],
            ]
        )
    out = [_concept(rng) for _ in range(rng.randrange(0, 4))]
    return out[0] if out and rng.random() < 0.1 else out


def _scalar(rng: random.Random, *choices: Any) -> Any:
    return rng.choice([*choices, None, [], True, 0, 1, 17.5, "x", ["a", "b"], {"a": 1}])


def variables(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {"sequence": rng.choice([1, 2, "1", None]), "diagnosis": _diagnoses(rng)}
    if rng.random() < 0.05:
        item["_diagnosis"] = [{"extension": []}]
    if rng.random() < 0.05:
        item = rng.choice([None, [item, item], "item"])  # type: ignore[assignment]
    out = {
        "claim": rng.choice([{"item": [item]}, {"item": []}, {}, None]),
        "item": item,
        "diagnoses": _diagnoses(rng),
        "age": _scalar(rng, 17, 18, 40, 50, 70, 18.0, "40"),
        "sex": _scalar(rng, "female", "male"),
        "serviceDate": _scalar(rng, "2026-12-01", "2025-01-01"),
        "levelOfService": _scalar(rng, "03", "U", "E", 3),
        "documents": _scalar(rng, ["11506-3"], ["11506-3", "18748-4"], ["x", None], "11506-3"),
        "questionnaires": _scalar(rng, ["http://q"]),
        "quantity": _scalar(rng, 1.0, 2.0, 2, 3.5),
        "expedited": _scalar(rng, True, False),
    }
    out = {name: None for name in VARIABLES} | out
    if rng.random() < 0.03:
        del out[rng.choice(sorted(out))]  # a context without a variable: fhirpathpy says so
    return out


def both(condition: Condition, given: dict[str, Any]) -> tuple[Any, Any]:
    """The outcome with the fast form and with fhirpathpy alone; fhirpathpy's messages may
    name objects by their address, which differs from one evaluation to the next."""
    outcomes = condition.outcome(given), replace(condition, _fast=None).outcome(given)
    return tuple(re.sub(r"0x[0-9a-f]+", "0x?", o) if isinstance(o, str) else o for o in outcomes)  # type: ignore[return-value]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_fast_form_answers_as_fhirpathpy_does(expression: str) -> None:
    condition = compile_condition(expression)
    rng = random.Random(f"fastpath {expression}")
    for _ in range(400):
        given = variables(rng)
        fast, slow = both(condition, given)
        assert fast == slow and type(fast) is type(slow), (expression, given, fast, slow)


def test_every_condition_of_the_demo_policy_has_a_fast_form() -> None:
    missing = [e for e in POLICY_CONDITIONS if compile_fast(e) is None]
    assert POLICY_CONDITIONS and not missing


@pytest.mark.parametrize(
    "expression",
    [
        "%serviceDate >= @2026-01-01",  # a date literal
        "%item.sequence = 1",  # navigation compared: fhirpathpy compares its nodes
        "%diagnoses.where(coding).exists()",  # a navigated value as where()'s criterion
        "%diagnoses.exists(coding.exists())",
        "%claim.item.count() > 1",
        "%expedited xor true",
        "-1 < %age",
        "%diagnoses.where($this.coding.exists()).exists()",
        "%item.diagnosis[0].exists()",
        "true | true",
    ],
)
def test_what_the_fast_form_does_not_model_is_left_to_fhirpathpy(expression: str) -> None:
    assert compile_fast(expression) is None
    condition = compile_condition(expression)
    rng = random.Random(expression)
    for _ in range(50):
        fast, slow = both(condition, variables(rng))
        assert fast == slow


def test_a_member_fhirpathpy_reads_as_a_resource_type_is_left_to_it() -> None:
    assert compile_fast("%diagnoses.Condition.exists()") is None


def _example_contexts() -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "examples").rglob("*.json")):
        try:
            req = parse_request(path.read_bytes())
        except Invalid:  # not a PAS request bundle (an inquiry, an attachment...)
            continue
        out += [c.variables for c in request_contexts(req, date(2026, 12, 1))]
    return out


def test_requests_as_providers_send_them_never_leave_the_fast_form() -> None:
    contexts = _example_contexts()
    assert len(contexts) > 10
    for expression in POLICY_CONDITIONS:
        fast = compile_fast(expression)
        assert fast is not None
        condition = compile_condition(expression)
        for given in contexts:
            try:
                got = fast(given)
            except Defer:
                pytest.fail(f"{expression} deferred on an example request")
            assert got == replace(condition, _fast=None).outcome(given), expression
