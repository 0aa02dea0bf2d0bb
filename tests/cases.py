"""Pended requests for the console's tests: submitted over HTTP like a provider would, with the
authorization id the console's URLs use."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.services import Services
from fhirauth.store.models import Authorization
from tests.api.test_attachments import note
from tests.conftest import EXAMPLES

FHIR_JSON = "application/fhir+json"
MIXED = "mixed-outcomes.json"  # standard; 1 NA, 2 A1, 3 A4 (CPT 70551), 4 A3; Riverbend
MRI = "pend-mri-brain.json"  # expedited; 1 A4 (CPT 70553); North Shore Neurology
KNEE = "pend-knee-needs-note.json"  # standard; 1 A4 (CPT 27447) until a progress note comes
RIVERBEND_NPI = "1268135906"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def submit(client: FlaskClient, bundle: str | dict[str, Any]) -> dict[str, Any]:
    """POST Claim/$submit; the response Bundle."""
    body = load(bundle) if isinstance(bundle, str) else bundle
    resp = client.post("/fhir/Claim/$submit", data=json.dumps(body), content_type=FHIR_JSON)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def ref_of(answer: dict[str, Any]) -> str:
    return str(answer["entry"][0]["resource"]["preAuthRef"])


def auth_id(services: Services, answer: dict[str, Any]) -> str:
    """The authorization id (the console's opaque case key) of a $submit answer."""
    with services.sessions() as session:
        found = session.scalar(
            select(Authorization.id).where(Authorization.pre_auth_ref == ref_of(answer))
        )
    assert found is not None
    return found


def pend(client: FlaskClient, services: Services, bundle: str | dict[str, Any]) -> str:
    """Submit a request that pends; its authorization id."""
    return auth_id(services, submit(client, bundle))


def assign(services: Services, auth: str, username: str | None) -> None:
    with services.sessions.begin() as session:
        row = session.get(Authorization, auth)
        assert row is not None
        row.assigned_to = username


def ask_for_imaging(client: FlaskClient, key: str) -> dict[str, Any]:
    """A reviewer asks for the imaging study report on item 1; the answer Bundle (its
    CommunicationRequest carries the tracking id an attachment names)."""
    resp = client.post(
        f"/admin/review/{key}/decisions",
        json={"item": 1, "action": "request-info", "documents": ["18748-4"]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def imaging_report(content: bytes, content_type: str = "text/html") -> dict[str, Any]:
    """The imaging study report (LOINC 18748-4) as a DocumentReference holding ``content``."""
    doc = note("18748-4")
    doc["content"][0]["attachment"] = {
        "contentType": content_type,
        "data": base64.b64encode(content).decode(),
    }
    return doc
