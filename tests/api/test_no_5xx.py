"""Inputs that used to crash the server (500) get a 2xx or a 4xx with one OperationOutcome.

Each test is the smallest input that reached a fault of ours; tests/fuzz/ searches for more.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import EXAMPLES

FHIR_JSON = "application/fhir+json"
REVIEWER = {"npi": "1234567893"}  # who decides is the caller


@pytest.fixture(autouse=True)
def _no_unhandled(caplog: pytest.LogCaptureFixture) -> Any:
    """A 4xx made by a catch-all is no fix: nothing may reach the handler of faults."""
    with caplog.at_level(logging.ERROR, logger="fhirauth.api"):
        yield
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()]


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(client: FlaskClient, body: dict[str, Any] | bytes) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post("/fhir/Claim/$submit", data=data, content_type=FHIR_JSON)


def outcome(resp: Any, status: int | tuple[int, ...] = 400) -> dict[str, Any]:
    assert resp.status_code in ((status,) if isinstance(status, int) else status), resp.data[:500]
    body: dict[str, Any] = resp.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    return body


def pended_ref(client: FlaskClient) -> str:
    resp = submit(client, (EXAMPLES / "pend-knee-needs-note.json").read_bytes())
    assert resp.status_code == 200
    return str(resp.get_json()["entry"][0]["resource"]["preAuthRef"])


# (a) supportingInfo.valueReference to an Organization: Organization.type is a list of
# CodeableConcepts, DocumentReference.type is one.
def test_supporting_info_referencing_an_organization_is_decided(client: FlaskClient) -> None:
    bundle = load("supporting-document.json")
    org = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization")
    assert org["resource"].get("type"), "the example's Organization must have a type"
    bundle["entry"][0]["resource"]["supportingInfo"][0]["valueReference"] = {
        "reference": org["fullUrl"]
    }
    resp = submit(client, bundle)
    assert resp.status_code == 200, resp.data[:500]


# (b) $submit-attachment with a null parameter or a null value.
@pytest.mark.parametrize(
    "parameter",
    [
        None,
        {"name": "TrackingId", "valueString": None},
        {"name": "TrackingId", "valueIdentifier": None},
        {"name": "Attachment", "part": None},
        {"name": "Attachment", "part": [None]},
        {"name": "Attachment", "part": [{"name": "Content", "resource": None}]},
        {"name": None},
        "TrackingId",
    ],
)
def test_a_null_or_misshapen_attachment_parameter_is_400(
    client: FlaskClient, parameter: Any
) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "AttachTo", "valueCode": "preauthorization"}, parameter],
    }
    resp = client.post("/fhir/$submit-attachment", data=json.dumps(body), content_type=FHIR_JSON)
    outcome(resp)


def test_a_parameter_list_that_is_not_a_list_is_400(client: FlaskClient) -> None:
    for params in (None, {}, "x", 1):
        body = {"resourceType": "Parameters", "parameter": params}
        resp = client.post(
            "/fhir/$submit-attachment", data=json.dumps(body), content_type=FHIR_JSON
        )
        outcome(resp)


# (c) a deeply nested admin body: the admin API reads JSON with the same strict parser.
@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1"])
def test_a_deeply_nested_review_decision_is_400(client: FlaskClient, body: bytes) -> None:
    ref = pended_ref(client)
    resp = client.post(f"/admin/review/{ref}/decisions", data=body, content_type="application/json")
    assert "nests" in outcome(resp, (400, 413))["issue"][0]["diagnostics"]


def test_a_deeply_nested_sandbox_script_is_400(sandbox: FlaskClient) -> None:
    body = b'{"outcome":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = sandbox.post("/admin/sandbox/scripts", data=body, content_type="application/json")
    assert "nests" in outcome(resp, (400, 413))["issue"][0]["diagnostics"]


def test_a_duplicate_key_in_an_admin_body_is_refused(client: FlaskClient) -> None:
    ref = pended_ref(client)
    body = json.dumps({"item": 1, "action": "deny", "reviewer": REVIEWER})[:-1]
    body += ', "action": "approve"}'
    resp = client.post(f"/admin/review/{ref}/decisions", data=body, content_type="application/json")
    assert "twice" in outcome(resp)["issue"][0]["diagnostics"]


# (d) a quantity of 1e400: as a JSON number it is not a finite number; as a string it is a
# Decimal too big for the response (orjson holds 64-bit integers).
@pytest.mark.parametrize(
    "quantity",
    ["1e400", "-1e400", '"1e400"', '"1e40"', "1e40", '"1E+30"', '"0.00000000001"', '"Infinity"'],
)
@pytest.mark.parametrize("action", ["approve", "modify"])
def test_an_unrepresentable_reviewer_quantity_is_400_at_quantity(
    client: FlaskClient, quantity: str, action: str
) -> None:
    ref = pended_ref(client)
    body = (
        f'{{"item": 1, "action": "{action}", "quantity": {quantity}, '
        f'"reviewer": {json.dumps(REVIEWER)}}}'
    )
    resp = client.post(f"/admin/review/{ref}/decisions", data=body, content_type="application/json")
    (issue,) = outcome(resp)["issue"]
    if quantity.strip("-") == "1e400":  # not a number a double holds: the JSON parser refuses
        assert "out of range" in issue["diagnostics"]
    else:
        assert issue["expression"] == ["quantity"]


def test_an_ordinary_reviewer_quantity_still_decides(client: FlaskClient) -> None:
    ref = pended_ref(client)
    resp = client.post(
        f"/admin/review/{ref}/decisions",
        json={"item": 1, "action": "modify", "quantity": 1.5, "reviewer": REVIEWER},
    )
    assert resp.status_code == 200, resp.data[:500]


# Found by tests/fuzz: a quantity a double holds but a 64-bit integer does not (1e300) made a
# sandbox A2/A6 reduce it to 5e299, which the response wrote as an integer orjson cannot hold;
# an integer beyond 64 bits anywhere in a body failed the same way when hashed.
@pytest.mark.parametrize("outcome_", ["A2", "A6"])
def test_a_huge_quantity_scripted_a2_or_a6_is_decided(sandbox: FlaskClient, outcome_: str) -> None:
    bundle = load("modify-wheelchair.json")
    bundle["entry"][0]["resource"]["item"][0]["quantity"]["value"] = 1e300
    assert sandbox.post("/admin/sandbox/scripts", json={"outcome": outcome_}).status_code == 201
    assert submit(sandbox, bundle).status_code == 200


def test_an_integer_beyond_64_bits_is_400(client: FlaskClient) -> None:
    body = (EXAMPLES / "modify-wheelchair.json").read_text()
    body = body.replace('"value": 2,', '"value": 1000000000000000000000000000000000000000,', 1)
    assert "out of range" in outcome(submit(client, body.encode()))["issue"][0]["diagnostics"]
