"""The FHIR REST surface at ``/fhir``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, request

from fhirauth.access import may_read
from fhirauth.api.auth import current_principal
from fhirauth.api.errors import FHIR_JSON
from fhirauth.auth import audit
from fhirauth.auth.smart import capability_security
from fhirauth.config import Settings
from fhirauth.errors import NotFound, Unsupported, invalid
from fhirauth.fhir.limits import check_body
from fhirauth.operations import (
    attachments,
    check_authorization,
    claim_inquire,
    claim_submit,
    eligibility_submit,
    metadata,
)
from fhirauth.services import Services
from fhirauth.store import repository

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
_JSON_TYPES = {"application/fhir+json", "application/json"}
_UTF8 = {"utf-8", "utf8"}


def services() -> Services:
    return current_app.extensions["fhirauth"]


def fhir_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, mimetype=FHIR_JSON)


def json_body() -> bytes:
    """The body of a JSON request: ``application/fhir+json`` or ``application/json``, in
    UTF-8 (the only encoding JSON allows between systems, RFC 8259 §8.1), else 415; and
    within the limits on what one request may hold (``fhir/limits.py``), else 413. Every
    endpoint that reads JSON (FHIR, Subscription, admin) reads it through here."""
    if request.mimetype not in _JSON_TYPES:
        raise Unsupported(
            f"Content-Type {request.mimetype or '(none)'!r} is not accepted; send "
            "application/fhir+json or application/json"
        )
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower() not in _UTF8:
        raise Unsupported(
            f"charset {charset[:40]!r} is not accepted; JSON bodies are UTF-8 "
            "(send charset=utf-8, or no charset)"
        )
    body = request.get_data(cache=False)
    check_body(body, services().settings.limits)
    return body


@bp.get("/metadata")
def capability_statement() -> Response:
    return capability("2.2.1")


@bp.post("/Claim/$submit")
def claim_submit_op() -> Response:
    return fhir_response(
        submitted(claim_submit.submit(json_body(), current_principal(), services()))
    )


@bp.post("/Claim/$inquire")
def claim_inquire_op() -> Response:
    return fhir_response(
        orjson.dumps(claim_inquire.inquire(json_body(), current_principal(), services()))
    )


@bp.post("/Claim/$check-authorization")
def check_authorization_op() -> Response:
    """A billing Claim against the authorizations on file; ``?record=true`` consumes units."""
    return fhir_response(checked(json_body()))


def checked(body: bytes) -> bytes:
    flag = request.args.get("record", "false")
    if flag not in ("true", "false"):
        raise invalid("record is true or false", "record")
    result = check_authorization.check(body, current_principal(), services(), flag == "true")
    g.audit_detail = (
        "replayed a recorded claim" if result.replayed else f"{result.recorded} lines recorded"
    )
    return result.body


@bp.post("/$submit-attachment")
def submit_attachment_op() -> Response:
    """CDex $submit-attachment: documentation for a pended prior authorization."""
    answer = attachments.submit_attachment(json_body(), current_principal(), services())
    return fhir_response(orjson.dumps(answer))


@bp.post("/CoverageEligibilityRequest/$submit")
def eligibility_submit_op() -> Response:
    answer = eligibility_submit.submit(json_body(), current_principal(), services())
    return fhir_response(orjson.dumps(answer))


@bp.get("/OperationDefinition/<definition_id>")
def operation_definition(definition_id: str) -> Response:
    found = metadata.operation_definition(definition_id, services().settings)
    if found is None:
        raise NotFound(f"OperationDefinition/{definition_id}")
    return fhir_response(orjson.dumps(found))


@bp.get("/Claim/<claim_id>")
def claim_read(claim_id: str) -> Response:
    return fhir_response(orjson.dumps(read_claim(claim_id)))


@bp.get("/ClaimResponse/<response_id>")
def claim_response_read(response_id: str) -> Response:
    return fhir_response(orjson.dumps(read_claim_response(response_id)))


def submitted(result: claim_submit.SubmitResult) -> bytes:
    """The answer's bytes; what was tolerated goes to the audit trail (never the body), with
    the authorization whose ClaimResponse the answer carries."""
    if result.authorization_id:
        g.audit_authorization = result.authorization_id
    g.audit_detail = audit.tolerated(result.deviations, result.warnings)
    if result.replay_of:
        g.audit_detail = claim_submit.replayed(result.replay_of)
    if result.claim_response_id:
        g.audit_entities = [f"ClaimResponse/{result.claim_response_id}"]
        g.audit_answer_named = True
    return result.body


def capability(pas_version: str) -> Response:
    return fhir_response(capability_bytes(services().settings, pas_version))


@lru_cache(maxsize=32)
def capability_bytes(settings: Settings, pas_version: str) -> bytes:
    """The CapabilityStatement of a PAS base, as answered: it depends on the settings alone,
    so it is built once per settings (per app) and served as these bytes."""
    statement = metadata.capability_statement(settings, pas_version)
    security = capability_security(settings)
    if security:
        statement["rest"][0]["security"] = security
    return orjson.dumps(statement)


def read_claim(claim_id: str) -> dict[str, Any]:
    """A Claim as received, under the id we gave it, for a caller who may read it."""
    if claim_id.startswith("$"):
        raise Unsupported(f"Claim/{claim_id} is an operation: use POST", 405)
    with services().sessions() as session:
        sub = repository.claim_by_id(session, claim_id)
        if sub is None or not may_read(current_principal(), sub.principal, sub.provider_identifier):
            raise NotFound(f"Claim/{claim_id}")
        return {**sub.claim, "id": sub.claim_id}


def read_claim_response(response_id: str) -> dict[str, Any]:
    """The latest version of a ClaimResponse, for a caller who may read it. The read and its
    audit row share one transaction: on PostgreSQL a second one cost a third of the read."""
    svc = services()
    with svc.sessions.begin() as session:
        stored = repository.latest_response(session, response_id)
        if stored is None or not may_read(
            current_principal(), stored.principal, stored.provider_identifier
        ):
            raise NotFound(f"ClaimResponse/{response_id}")
        audit.record_in(
            session,
            [f"ClaimResponse/{response_id}", f"authorization/{stored.authorization_id}"],
            svc.clock(),
        )
    resource: dict[str, Any] = orjson.loads(stored.bundle)["entry"][0]["resource"]
    return resource
