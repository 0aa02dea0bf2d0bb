"""``GET /`` points to everything else; ``GET /fhir`` answers the CapabilityStatement."""

from __future__ import annotations

from flask.testing import FlaskClient

from fhirauth.auth.routes import OPEN, required_scope
from tests.conftest import BASE_URL

pytest_plugins = ("tests.auth.fixtures",)


def test_the_root_points_to_the_fhir_base_metadata_smart_configuration_admin_and_docs(
    client: FlaskClient,
) -> None:
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    home = resp.get_json()
    root = BASE_URL.removesuffix("/fhir")
    assert home["name"] == "fhirauth" and home["version"]
    assert home["fhir"] == BASE_URL and home["metadata"] == f"{BASE_URL}/metadata"
    assert home["pas201"]["metadata"] == f"{BASE_URL}/pas/v2.0.1/metadata"
    assert home["smartConfiguration"] == f"{root}/.well-known/smart-configuration"
    assert home["tokenEndpoint"] == f"{root}/auth/token"
    assert home["admin"] == {"url": f"{root}/admin", "scope": "system/fhirauth.admin"}
    assert home["authentication"] == "off" and home["sandbox"] is False
    assert "README.md" in home["documentation"]


def test_the_bare_fhir_base_answers_the_capability_statement(client: FlaskClient) -> None:
    metadata = client.get("/fhir/metadata").get_json()
    for path in ("/fhir", "/fhir/"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
        assert resp.get_json() == metadata


def test_both_are_open_when_tokens_are_required(secure: FlaskClient) -> None:
    for path in ("/", "/fhir", "/fhir/"):
        assert required_scope("GET", path) == OPEN
        assert secure.get(path).status_code == 200, path
    assert secure.get("/").get_json()["authentication"] == "required"
    assert secure.get("/fhir/AuditEvent").status_code == 401
