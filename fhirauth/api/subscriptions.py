"""``/fhir/Subscription``: create, read, update, delete and ``$status`` (R5 Backport for R4)."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, request

from fhirauth.api.auth import current_principal
from fhirauth.api.fhir import fhir_response, json_body, services
from fhirauth.errors import Invalid, invalid
from fhirauth.fhir.bundle import load_json, model_issues
from fhirauth.fhir.systems import PAS_BASES
from fhirauth.operations import subscription
from fhirauth.principal import Principal

bp = Blueprint("subscriptions", __name__, url_prefix="/fhir")


def principal() -> Principal:
    return current_principal()


def _answer(stored: subscription.Stored, status: int = 200, pas_version: str = "2.2.1") -> Response:
    resp = fhir_response(orjson.dumps(stored.resource), status)
    resp.headers["ETag"] = f'W/"{stored.version}"'
    if status == 201:  # on the base it was created through
        base = services().settings.base_url + PAS_BASES[pas_version]
        resp.headers["Location"] = f"{base}/Subscription/{stored.id}/_history/{stored.version}"
    return resp


@bp.post("/Subscription")
def create(pas_version: str = "2.2.1") -> Response:
    stored = subscription.create(json_body(), principal(), services(), pas_version=pas_version)
    return _answer(stored, 201, pas_version)


@bp.get("/Subscription/<sub_id>")
def read(sub_id: str) -> Response:
    return _answer(subscription.read(sub_id, principal(), services()))


@bp.put("/Subscription/<sub_id>")
def update(sub_id: str, pas_version: str = "2.2.1") -> Response:
    stored = subscription.update(
        sub_id, json_body(), principal(), services(), pas_version=pas_version
    )
    return _answer(stored)


@bp.delete("/Subscription/<sub_id>")
def remove(sub_id: str) -> Response:
    subscription.remove(sub_id, principal(), services())
    return Response(status=204)


@bp.route("/Subscription/<sub_id>/$status", methods=["GET", "POST"])
def instance_status(sub_id: str) -> Response:
    answer = subscription.status(sub_id, principal(), services())
    return fhir_response(orjson.dumps(answer))


def _parameters() -> dict[str, list[str]]:
    """``id`` and ``status`` from the query string and, on POST, a Parameters body."""
    found: dict[str, list[str]] = {
        name: [v for value in request.args.getlist(name) for v in value.split(",") if v]
        for name in ("id", "status")
    }
    if request.method == "POST" and request.content_length:
        body = load_json(json_body())
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise invalid("$status takes a Parameters body (or none)", "Parameters")
        structure = model_issues("Parameters", body, "Parameters")  # R4 shapes read below
        if structure:
            raise Invalid(structure)
        for p in body.get("parameter") or []:
            name = p.get("name")
            value = p.get("valueId") or p.get("valueCode") or p.get("valueString")
            if name in found and isinstance(value, str):
                found[name] += [v for v in value.split(",") if v]
    return found


@bp.route("/Subscription/$status", methods=["GET", "POST"])
def type_status() -> Response:
    found = _parameters()
    answer = subscription.status_all(
        principal(), services(), ids=found["id"], statuses=found["status"]
    )
    return fhir_response(orjson.dumps(answer))
