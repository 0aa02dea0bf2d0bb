"""Values README calls invalid are refused: 400 with an OperationOutcome whose issue points at
the FHIRPath of the value, and nothing stored (415 for a charset other than UTF-8)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fhirauth.services import Services
from fhirauth.store.models import Submission
from tests.conftest import EXAMPLES

FHIR_JSON = "application/fhir+json"
CLAIM = "Bundle.entry[0].resource"
# modify-wheelchair-nursing-facility.json has every element these tests break.
FULL = json.loads((EXAMPLES / "modify-wheelchair-nursing-facility.json").read_text())


def bundle() -> dict[str, Any]:
    return copy.deepcopy(FULL)


def claim(b: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = b["entry"][0]["resource"]
    return resource


def refused(client: FlaskClient, body: dict[str, Any] | bytes, url: str = "/fhir/Claim/$submit"):
    data = body if isinstance(body, bytes) else json.dumps(body)
    resp = client.post(url, data=data, content_type=FHIR_JSON)
    assert resp.status_code == 400, resp.data[:300]
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [tuple(i.get("expression", ())) for i in outcome["issue"]]


def stored(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Submission)) or 0


def test_the_example_itself_is_decided(client: FlaskClient) -> None:
    resp = client.post("/fhir/Claim/$submit", data=json.dumps(FULL), content_type=FHIR_JSON)
    assert resp.status_code == 200


@pytest.mark.parametrize("value", [True, False, "1", 1.0, 2.5, 0, -1])
@pytest.mark.parametrize("element", ["item", "supportingInfo", "careTeam", "diagnosis"])
def test_a_sequence_that_is_not_a_positive_json_integer_is_400_at_it(
    client: FlaskClient, services: Services, element: str, value: Any
) -> None:
    b = bundle()
    claim(b)[element][0]["sequence"] = value
    assert (f"{CLAIM}.{element}[0].sequence",) in refused(client, b)
    assert stored(services) == 0


@pytest.mark.parametrize("value", ["2", "-1", True, -1, -0.5])
def test_a_string_or_negative_quantity_is_400_at_it(client: FlaskClient, value: Any) -> None:
    b = bundle()
    claim(b)["item"][0]["quantity"]["value"] = value
    assert (f"{CLAIM}.item[0].quantity.value",) in refused(client, b)


def test_a_negative_detail_quantity_is_400_at_it(client: FlaskClient) -> None:
    b = bundle()
    claim(b)["item"][0]["detail"] = [
        {
            "sequence": 1,
            "productOrService": claim(b)["item"][0]["productOrService"],
            "quantity": {"value": -2},
        }
    ]
    assert refused(client, b) == [(f"{CLAIM}.item[0].detail[0].quantity.value",)]


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda b: claim(b)["item"][0], f"{CLAIM}.item[0].servicedPeriod"),
        (lambda b: claim(b), f"{CLAIM}.billablePeriod"),
    ],
)
def test_a_reversed_service_period_is_400_at_start_and_end(
    client: FlaskClient, where: Any, path: str
) -> None:
    b = bundle()
    node = where(b)
    node.pop("servicedDate", None)
    key = path.rsplit(".", 1)[1]
    node[key] = {"start": "2027-01-31", "end": "2027-01-01"}
    assert (f"{path}.start", f"{path}.end") in refused(client, b)


def test_a_reversed_coverage_period_is_400_at_start_and_end(client: FlaskClient) -> None:
    b = bundle()
    index, coverage = next(
        (i, e["resource"])
        for i, e in enumerate(b["entry"])
        if e["resource"]["resourceType"] == "Coverage"
    )
    coverage["period"] = {"start": "2026-06-30", "end": "2026-01-01"}
    path = f"Bundle.entry[{index}].resource.period"
    assert refused(client, b) == [(f"{path}.start", f"{path}.end")]


@pytest.mark.parametrize("value", ["0000-12-01", "99999-12-01", "2027-02-30", "2027-02-29"])
def test_an_impossible_date_is_400_at_it(client: FlaskClient, value: str) -> None:
    b = bundle()
    item = claim(b)["item"][0]
    item.pop("servicedPeriod", None)
    item["servicedDate"] = value
    assert (f"{CLAIM}.item[0].servicedDate",) in refused(client, b)


def test_an_impossible_created_datetime_is_400_at_it(client: FlaskClient) -> None:
    b = bundle()
    claim(b)["created"] = "2026-11-31T10:00:00Z"
    assert refused(client, b) == [(f"{CLAIM}.created",)]


def _related(target: dict[str, Any]) -> list[dict[str, Any]]:
    system = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
    return [{"claim": target, "relationship": {"coding": [{"system": system, "code": "prior"}]}}]


def test_a_claim_related_to_its_own_full_url_is_400(client: FlaskClient) -> None:
    b = bundle()
    claim(b)["related"] = _related({"reference": b["entry"][0]["fullUrl"]})
    assert refused(client, b) == [(f"{CLAIM}.related[0].claim.reference",)]


def test_a_claim_related_to_itself_by_type_and_id_is_400(client: FlaskClient) -> None:
    b = bundle()
    claim(b)["related"] = _related({"reference": f"Claim/{claim(b)['id']}"})
    assert refused(client, b) == [(f"{CLAIM}.related[0].claim.reference",)]


def test_a_claim_naming_its_own_identifier_as_related_is_a_201_update_not_an_error(
    client: FlaskClient,
) -> None:
    """PAS 2.0.1 updates keep the original's TRN and name the original by it."""
    b = bundle()
    claim(b)["related"] = _related({"identifier": claim(b)["identifier"][0]})
    resp = client.post("/fhir/Claim/$submit", json=b)
    assert resp.status_code == 200, resp.data[:300]


def test_a_member_id_longer_than_any_real_one_is_400(client: FlaskClient) -> None:
    b = bundle()
    (index,) = [i for i, e in enumerate(b["entry"]) if e["resource"]["resourceType"] == "Coverage"]
    b["entry"][index]["resource"]["subscriberId"] = "M" * 200
    assert refused(client, b) == [(f"Bundle.entry[{index}].resource.subscriberId",)]


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda c: c["identifier"][0], ".identifier[0].value"),
        (
            lambda c: c["item"][0]["productOrService"]["coding"][0],
            ".item[0].productOrService.coding[0].code",
        ),
    ],
)
def test_keys_longer_than_any_real_one_are_400(client: FlaskClient, where: Any, path: str) -> None:
    b = bundle()
    target = where(claim(b))
    target["value" if "value" in target else "code"] = "9" * 600
    assert refused(client, b) == [(f"{CLAIM}{path}",)]


def test_the_same_rules_hold_on_the_201_base_and_on_inquire(client: FlaskClient) -> None:
    b = bundle()
    claim(b)["item"][0]["sequence"] = True
    for url in (
        "/fhir/pas/v2.0.1/Claim/$submit",
        "/fhir/Claim/$inquire",
        "/fhir/pas/v2.0.1/Claim/$inquire",
    ):
        assert (f"{CLAIM}.item[0].sequence",) in refused(client, b, url)


def test_an_eligibility_request_with_a_negative_quantity_is_400(client: FlaskClient) -> None:
    request = json.loads((EXAMPLES / "eligibility" / "bare-with-contained.json").read_text())
    request["item"][0]["quantity"] = {"value": -1}
    url = "/fhir/CoverageEligibilityRequest/$submit"
    expressions = refused(client, request, url)
    assert expressions == [("CoverageEligibilityRequest.item[0].quantity.value",)]


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "windows-1252"])
@pytest.mark.parametrize(
    "url", ["/fhir/Claim/$submit", "/fhir/$submit-attachment", "/admin/review/X/decisions"]
)
def test_a_charset_other_than_utf8_is_415(client: FlaskClient, charset: str, url: str) -> None:
    resp = client.post(
        url,
        data=json.dumps(FULL).encode(),
        headers={"Content-Type": f"application/fhir+json; charset={charset}"},
    )
    assert resp.status_code == 415
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_utf8_may_be_named(client: FlaskClient, charset: str) -> None:
    resp = client.post(
        "/fhir/Claim/$submit",
        data=json.dumps(FULL).encode(),
        headers={"Content-Type": f"application/fhir+json; charset={charset}"},
    )
    assert resp.status_code == 200
