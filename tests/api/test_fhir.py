"""``api/fhir.py``: the CapabilityStatements are built once per settings and served as bytes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from fhirauth import create_app
from fhirauth.api import fhir
from fhirauth.auth.smart import capability_security
from fhirauth.config import Settings
from fhirauth.operations import metadata
from fhirauth.services import Services

PATHS = {"2.2.1": ("/fhir/metadata", "/fhir", "/fhir/"), "2.0.1": ("/fhir/pas/v2.0.1/metadata",)}


def built(settings: Settings, pas_version: str) -> bytes:
    """The statement as built for every request before it was built once."""
    statement = metadata.capability_statement(settings, pas_version)
    security = capability_security(settings)
    if security:
        statement["rest"][0]["security"] = security
    return orjson.dumps(statement)


@pytest.mark.parametrize("auth_mode", ["off", "required"])
def test_each_statement_is_built_once_and_answered_as_built(
    services: Services, monkeypatch: pytest.MonkeyPatch, auth_mode: str
) -> None:
    settings = replace(services.settings, auth_mode=auth_mode)
    client = create_app(services=replace(services, settings=settings)).test_client()
    expected = {v: built(settings, v) for v in PATHS}
    calls: list[str] = []
    statement = metadata.capability_statement

    def counted(settings: Settings, pas_version: str = "2.2.1") -> dict[str, Any]:
        calls.append(pas_version)
        return statement(settings, pas_version)

    monkeypatch.setattr(metadata, "capability_statement", counted)
    for pas_version, paths in PATHS.items():
        for path in paths * 2:
            resp = client.get(path)
            assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
            assert resp.data == expected[pas_version]
    assert calls == ["2.2.1", "2.0.1"]


def test_other_settings_get_their_own_statement(client: FlaskClient, services: Services) -> None:
    first = client.get("/fhir/metadata").data
    moved = replace(services.settings, base_url="https://payer.example/r4/fhir")
    other = create_app(services=replace(services, settings=moved)).test_client()
    answer = other.get("/fhir/metadata").data
    assert answer != first
    assert answer == built(moved, "2.2.1")
    assert b"https://payer.example/r4/fhir" in answer
    assert fhir.capability_bytes(services.settings, "2.2.1") == first
