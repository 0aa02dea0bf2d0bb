"""Every corpus variant is decided in sandbox mode: 200, a ClaimResponse that is not
``outcome=error``, one item per submitted Claim.item answering the scripted review action
(``C`` for the items the request cancels), a response that parses with the R4 models and
conforms to our PAS profiles. Updates are submitted after their initial request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient

from tests.interop.shapes import PAS, Variant, example
from tests.interop.variants import VARIANTS
from tests.pas import assert_conformant

SCRIPTED = ("A1", "A3", "A4")
FHIR_JSON = "application/fhir+json"
# Shapes fhirauth does not handle yet, each with why; strict, so a fix makes the test fail
# until its line here is removed.
KNOWN_FAILURES: dict[str, str] = {}


def script(client: FlaskClient, outcome: str) -> None:
    resp = client.post("/admin/sandbox/scripts", json={"outcome": outcome, "count": 1})
    assert resp.status_code == 201, resp.data


def submit(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/fhir/Claim/$submit", data=json.dumps(body), content_type=FHIR_JSON)
    assert resp.status_code == 200, resp.data[:2000]
    answer: dict[str, Any] = resp.get_json()
    return answer


def review_action(item: dict[str, Any]) -> str | None:
    for adj in item.get("adjudication", []):
        for ext in adj.get("extension", []):
            if not ext["url"].endswith("extension-reviewAction"):
                continue
            for sub in ext.get("extension", []):
                if sub["url"].endswith("extension-reviewActionCode"):
                    return str(sub["valueCodeableConcept"]["coding"][0]["code"])
    return None


def cancelled(item: dict[str, Any]) -> bool:
    return any(
        e["url"] == PAS + "modifierextension-infoCancelled" and e.get("valueBoolean")
        for e in item.get("modifierExtension", [])
    ) or any(
        e["url"] == PAS + "extension-certificationType"
        and e["valueCodeableConcept"]["coding"][0]["code"] == "3"
        for e in item.get("extension", [])
    )


def check(answer: dict[str, Any], request: dict[str, Any], outcome: str) -> None:
    """The answer decides every submitted item: ``outcome``, or C for a cancelled one."""
    Bundle.model_validate(answer)
    cr = answer["entry"][0]["resource"]
    assert cr["resourceType"] == "ClaimResponse"
    assert cr["outcome"] != "error", [e.get("code") for e in cr.get("error", [])] + [
        n.get("text") for n in cr.get("processNote", [])
    ]
    if request["resourceType"] == "Parameters":
        request = request["parameter"][0]["resource"]
    items = request["entry"][0]["resource"].get("item", [])
    expected = {i["sequence"]: "C" if cancelled(i) else outcome for i in items}
    got = {i["itemSequence"]: review_action(i) for i in cr.get("item", [])}
    assert len(cr.get("item", [])) == len(got), "one answer per item"
    assert got == expected
    assert_conformant(answer)


def pre_auth_ref(answer: dict[str, Any]) -> str:
    return str(answer["entry"][0]["resource"]["preAuthRef"])


def test_the_corpus_is_big_and_its_ids_unique() -> None:
    assert len(VARIANTS) >= 45
    assert len({v.id for v in VARIANTS}) == len(VARIANTS)
    assert set(KNOWN_FAILURES) <= {v.id for v in VARIANTS}


def test_variants_are_pure() -> None:
    for variant in VARIANTS:
        base = example(variant.base)
        before = json.dumps(base, sort_keys=True)
        built = variant.build(base)
        assert built is not base and json.dumps(base, sort_keys=True) == before, variant.id


@pytest.mark.parametrize(
    ("index", "variant"),
    [
        pytest.param(
            n,
            v,
            id=v.id,
            marks=[pytest.mark.xfail(reason=KNOWN_FAILURES[v.id], strict=True)]
            if v.id in KNOWN_FAILURES
            else [],
        )
        for n, v in enumerate(VARIANTS)
    ],
)
def test_variant_is_decided(sandbox: FlaskClient, index: int, variant: Variant) -> None:
    outcome = SCRIPTED[index % len(SCRIPTED)]
    request = variant.build(example(variant.base))
    if variant.update is not None:
        # An approved initial request (items carry authorization numbers); its changed
        # items are decided again by the update.
        script(sandbox, "A1")
        first = submit(sandbox, request)
        check(first, request, "A1")
        request = variant.update(request, first)
    script(sandbox, outcome)
    answer = submit(sandbox, request)
    check(answer, request, outcome)
    if variant.update is not None:  # the update found its authorization: same preAuthRef
        assert pre_auth_ref(answer) == pre_auth_ref(first)


def test_a_claim_without_priority_is_not_r4_and_answers_400(sandbox: FlaskClient) -> None:
    """R4 makes Claim.priority 1..1, and the response echoes the Claim (spec-33): a request
    without it is structural breakage, answered 400 at the element, never decided."""
    request = example("approve-ct-head.json")
    del request["entry"][0]["resource"]["priority"]
    resp = sandbox.post("/fhir/Claim/$submit", data=json.dumps(request), content_type=FHIR_JSON)
    assert resp.status_code == 400
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["expression"] for i in outcome["issue"]] == [["Bundle.entry[0].resource.priority"]]
