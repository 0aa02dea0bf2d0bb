"""GET /fhir/metadata."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from flask.testing import FlaskClient


def test_the_capability_statement_instantiates_pas_and_lists_what_we_serve(
    client: FlaskClient,
) -> None:
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
    cs = resp.get_json()
    CapabilityStatement.model_validate(cs)
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    assert (
        "http://hl7.org/fhir/us/davinci-pas/CapabilityStatement/IntermediaryCapabilities|2.2.1"
        in cs["instantiates"]
    )
    assert cs["implementation"]["url"] == "http://fhirauth.test/fhir"
    (rest,) = cs["rest"]
    resources = {r["type"]: r for r in rest["resource"]}
    assert [op["definition"] for op in resources["Claim"]["operation"]] == [
        "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-submit|2.2.1",
        "http://hl7.org/fhir/us/davinci-pas/OperationDefinition/Claim-inquiry|2.2.1",
        "http://fhirauth.test/fhir/OperationDefinition/Claim-check-authorization",
    ]
    (eligibility,) = resources["CoverageEligibilityRequest"]["operation"]
    assert eligibility["definition"] == (
        "http://fhirauth.test/fhir/OperationDefinition/CoverageEligibilityRequest-submit"
    )
    assert {"read"} == {i["code"] for i in resources["ClaimResponse"]["interaction"]}


def test_every_advertised_route_answers(client: FlaskClient) -> None:
    cs = client.get("/fhir/metadata").get_json()
    for resource in cs["rest"][0]["resource"]:
        for op in resource.get("operation", []):
            resp = client.post(
                f"/fhir/{resource['type']}/${op['name']}",
                data=b"{}",
                content_type="application/fhir+json",
            )
            assert resp.status_code == 400, op["name"]  # reached the operation, which refused {}
        if {"code": "read"} in resource.get("interaction", []):
            assert client.get(f"/fhir/{resource['type']}/unknown").status_code == 404


def test_our_own_operation_definitions_are_served_at_their_canonical(client: FlaskClient) -> None:
    from fhir.resources.R4B.operationdefinition import OperationDefinition

    for name in ("CoverageEligibilityRequest-submit", "Claim-check-authorization"):
        url = f"http://fhirauth.test/fhir/OperationDefinition/{name}"
        got = client.get(url.removeprefix("http://fhirauth.test"))
        assert got.status_code == 200
        OperationDefinition.model_validate(got.get_json())
        assert got.get_json()["url"] == url
    assert client.get("/fhir/OperationDefinition/..%2Fsecret").status_code == 404
