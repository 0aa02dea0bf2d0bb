"""``GET /fhir/AuditEvent`` and ``GET /fhir/AuditEvent/{id}``: the audit trail (admin scope);
the search itself is fhirauth.operations.audit_search."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from fhirauth.api.errors import FHIR_JSON
from fhirauth.operations import audit_search
from fhirauth.services import Services

bp = Blueprint("audit", __name__, url_prefix="/fhir")


def services() -> Services:
    return current_app.extensions["fhirauth"]


def _fhir(body: object) -> Response:
    return Response(orjson.dumps(body), mimetype=FHIR_JSON)


@bp.get("/AuditEvent")
def search() -> Response:
    svc = services()
    params = [(k, v) for k, vs in request.args.lists() for v in vs]
    with svc.sessions() as session:
        return _fhir(audit_search.search(session, params, svc.settings.base_url))


@bp.get("/AuditEvent/<event_id>")
def read(event_id: str) -> Response:
    with services().sessions() as session:
        return _fhir(audit_search.read(session, event_id))
