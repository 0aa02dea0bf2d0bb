"""Shared by the billing tests: post claims to $check-authorization and read the answer."""

from __future__ import annotations

import copy
import json
from typing import Any

from fhir.resources.R4B.parameters import Parameters
from flask.testing import FlaskClient

from fhirauth.operations import metadata
from tests.conftest import EXAMPLES

BILLING = EXAMPLES / "billing"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(path, data=json.dumps(body), content_type="application/fhir+json")
    assert resp.status_code == 200, resp.data[:600]
    return resp.get_json()


def submit(client: FlaskClient, body: dict[str, Any], base: str = "/fhir") -> dict[str, Any]:
    return post(client, f"{base}/Claim/$submit", body)["entry"][0]["resource"]


def check(client: FlaskClient, claim: dict[str, Any], record: bool = False) -> dict[str, Any]:
    path = "/fhir/Claim/$check-authorization" + ("?record=true" if record else "")
    answer = post(client, path, claim)
    assert_follows_the_operation_definition(answer)
    return answer


def _definition() -> dict[str, Any]:
    raw = (metadata.PROFILES / "OperationDefinition-Claim-check-authorization.json").read_text()
    return json.loads(raw)


def _conforms(parts: list[dict[str, Any]], declared: list[dict[str, Any]], where: str) -> None:
    by_name = {p["name"]: p for p in declared if p["use"] == "out"}
    for part in parts:
        assert part["name"] in by_name, f"{where}: {part['name']} is not declared"
    for name, spec in by_name.items():
        count = sum(1 for p in parts if p["name"] == name)
        top = float("inf") if spec["max"] == "*" else int(spec["max"])
        assert spec["min"] <= count <= top, (
            f"{where}.{name}: {count} of {spec['min']}..{spec['max']}"
        )
        for p in parts:
            if p["name"] != name:
                continue
            if "part" in spec:
                _conforms(p["part"], spec["part"], f"{where}.{name}")
            else:
                kind = spec["type"]
                key = "value" + kind[0].upper() + kind[1:]
                assert key in p, f"{where}.{name} has no {key}"


def assert_follows_the_operation_definition(answer: dict[str, Any]) -> None:
    """An R4 Parameters whose parameters and parts are those our OperationDefinition declares,
    each within its cardinality and of its type."""
    Parameters.model_validate(answer)
    _conforms(answer["parameter"], _definition()["parameter"], "Parameters")


def lines(answer: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """sequence → {authorizationNumber, status, unitsRemaining, recorded, mismatches}."""
    out = {}
    for p in answer["parameter"]:
        if p["name"] != "line":
            continue
        got: dict[str, Any] = {"mismatches": []}
        for part in p["part"]:
            if part["name"] == "mismatch":
                fields = {x["name"]: x for x in part["part"]}
                got["mismatches"].append(
                    (fields["code"]["valueCoding"]["code"], fields["text"]["valueString"])
                )
            else:
                got[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
        out[got["sequence"]] = got
    return out


def codes(answer: dict[str, Any], sequence: int = 1) -> list[str]:
    return [code for code, _ in lines(answer)[sequence]["mismatches"]]


def billed(name: str, **changes: Any) -> dict[str, Any]:
    """A billing example, its one line changed as given."""
    bundle = copy.deepcopy(json.loads((BILLING / name).read_text()))
    bundle["entry"][0]["resource"]["item"][0].update(changes)
    return bundle
