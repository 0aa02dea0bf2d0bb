"""Bounded work over HTTP: every endpoint that reads JSON refuses a body over the configured
limits with 413 and one OperationOutcome (too-costly, at the offending element), and decides a
request at the limits."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.fhir.limits import Limits
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW

SMALL = Limits(entries=12, items=5, string=100, depth=20, values=3000)
FHIR_JSON = "application/fhir+json"
CLAIM = "Bundle.entry[0].resource"


@pytest.fixture
def small(settings: Settings) -> Iterator[FlaskClient]:
    """A server configured with small limits (FHIRAUTH_MAX_*)."""
    services = Services.build(replace(settings, limits=SMALL, sandbox=True), clock=fixed_clock(NOW))
    app = create_app(services=services)
    app.config["TESTING"] = False
    yield app.test_client()
    services.engine.dispose()


def example(name: str = "mixed-outcomes.json") -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def with_items(bundle: dict[str, Any], n: int) -> dict[str, Any]:
    first = bundle["entry"][0]["resource"]
    items = first["item"]
    first["item"] = [{**copy.deepcopy(items[i % len(items)]), "sequence": i + 1} for i in range(n)]
    return bundle


def with_entries(bundle: dict[str, Any], n: int) -> dict[str, Any]:
    bundle["entry"] += [
        {
            "fullUrl": f"http://emr.riverbendclinic.example.org/fhir/Practitioner/extra-{i}",
            "resource": {"resourceType": "Practitioner", "id": f"extra-{i}"},
        }
        for i in range(n - len(bundle["entry"]))
    ]
    return bundle


def too_costly(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 413, resp.data[:500]
    outcome: dict[str, Any] = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["code"] == "too-costly"
    return issue


def post(client: FlaskClient, path: str, body: Any, method: str = "POST") -> Any:
    return client.open(path, method=method, data=json.dumps(body), content_type=FHIR_JSON)


@pytest.mark.parametrize("base", ["/fhir", "/fhir/pas/v2.0.1"])
def test_a_claim_with_more_items_than_the_limit_is_413_at_claim_item(
    small: FlaskClient, base: str
) -> None:
    resp = post(small, f"{base}/Claim/$submit", with_items(example(), SMALL.items + 1))
    assert too_costly(resp)["expression"] == [f"{CLAIM}.item"]


def test_a_bundle_with_more_entries_than_the_limit_is_413_at_bundle_entry(
    small: FlaskClient,
) -> None:
    resp = post(small, "/fhir/Claim/$submit", with_entries(example(), SMALL.entries + 1))
    assert too_costly(resp)["expression"] == ["Bundle.entry"]


def test_a_string_longer_than_the_limit_is_413_at_its_element(small: FlaskClient) -> None:
    bundle = example()
    bundle["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]["code"] = "9" * 101
    issue = too_costly(post(small, "/fhir/Claim/$submit", bundle))
    assert issue["expression"] == [f"{CLAIM}.item[0].productOrService.coding[0].code"]


def test_a_request_at_every_limit_is_decided(small: FlaskClient) -> None:
    bundle = with_entries(with_items(example(), SMALL.items), SMALL.entries)
    coding = bundle["entry"][0]["resource"]["item"][0]["productOrService"]["coding"][0]
    coding["display"] = "d" * SMALL.string
    resp = post(small, "/fhir/Claim/$submit", bundle)
    assert resp.status_code == 200, resp.data[:500]
    claim_response = resp.get_json()["entry"][0]["resource"]
    assert len(claim_response["item"]) == SMALL.items


def test_an_inquiry_over_the_limits_is_413(small: FlaskClient) -> None:
    inquiry = json.loads((EXAMPLES / "inquiry" / "inquire-ct-head.json").read_text())
    resp = post(small, "/fhir/Claim/$inquire", with_entries(inquiry, SMALL.entries + 1))
    assert too_costly(resp)["expression"] == ["Bundle.entry"]


def test_an_eligibility_request_with_more_items_than_the_limit_is_413(small: FlaskClient) -> None:
    request = with_items(example("eligibility/auth-requirements.json"), SMALL.items + 1)
    resp = post(small, "/fhir/CoverageEligibilityRequest/$submit", request)
    assert too_costly(resp)["expression"] == [f"{CLAIM}.item"]


def test_an_attachment_over_the_limits_is_413(small: FlaskClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "TrackingId", "valueIdentifier": {"value": "x" * 101}}],
    }
    issue = too_costly(post(small, "/fhir/$submit-attachment", body))
    assert issue["expression"] == ["Parameters.parameter[0].valueIdentifier.value"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/fhir/Subscription"),
        ("PUT", "/fhir/Subscription/any"),
        ("POST", "/fhir/pas/v2.0.1/Subscription"),
    ],
)
def test_a_subscription_over_the_limits_is_413(small: FlaskClient, method: str, path: str) -> None:
    body = {"resourceType": "Subscription", "status": "requested", "reason": "r" * 101}
    issue = too_costly(post(small, path, body, method))
    assert issue["expression"] == ["Subscription.reason"]


def test_a_subscription_status_query_over_the_limits_is_413(small: FlaskClient) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "id", "valueId": "i" * 101}]}
    issue = too_costly(post(small, "/fhir/Subscription/$status", body))
    assert issue["expression"] == ["Parameters.parameter[0].valueId"]


@pytest.mark.parametrize("path", ["/admin/review/PAANYTHING/decisions", "/admin/sandbox/scripts"])
def test_an_admin_body_over_the_limits_is_413(small: FlaskClient, path: str) -> None:
    body = {"outcome": "A1", "reviewer": {"name": "n" * 101}}
    resp = small.post(path, data=json.dumps(body), content_type="application/json")
    assert too_costly(resp)["expression"] == ["reviewer.name"]


def test_json_nested_deeper_than_the_limit_is_413(small: FlaskClient) -> None:
    body = b'{"resourceType": "Bundle", "entry": ' + b"[" * 30 + b"]" * 30 + b"}"
    resp = small.post("/fhir/Claim/$submit", data=body, content_type=FHIR_JSON)
    assert "nests deeper than 20" in too_costly(resp)["diagnostics"]


def test_a_request_with_as_many_items_as_the_default_limit_is_decided(
    client: FlaskClient,
) -> None:
    bundle = with_items(example(), Limits().items)
    resp = post(client, "/fhir/Claim/$submit", bundle)
    assert resp.status_code == 200, resp.data[:500]
    assert len(resp.get_json()["entry"][0]["resource"]["item"]) == Limits().items
