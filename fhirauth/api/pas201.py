"""The PAS 2.0.1 base, ``/fhir/pas/v2.0.1``: what EHRs certified to PAS 2.0.1 call.

PAS conf-1 wants a distinct endpoint per version. This base serves the 2.0.1 rules
(REQUIREMENTS.md Appendix B) over the same store and the same operations as ``/fhir``: answers
are our 2.2.1 answers said in 2.0.1 terms (``decision/v201.py``), ``$inquire`` answers the
inquiry response Bundle itself, and Subscriptions may be ``id-only`` with an ``identifier=``
filter. An authorization made through one base can be inquired or read through the other.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response

from fhirauth.api import fhir, subscriptions
from fhirauth.api.auth import current_principal
from fhirauth.decision.v201 import as_v201
from fhirauth.fhir.systems import PAS_BASES
from fhirauth.operations import claim_inquire, claim_submit

PAS_VERSION = "2.0.1"
PREFIX = "/fhir" + PAS_BASES[PAS_VERSION]
bp = Blueprint("pas201", __name__, url_prefix=PREFIX)


def _base() -> str:
    return fhir.services().settings.base_url + PAS_BASES[PAS_VERSION]


def _answer(bundle: dict[str, Any]) -> Response:
    return fhir.fhir_response(orjson.dumps(as_v201(bundle, _base())))


@bp.get("/metadata")
def capability_statement() -> Response:
    return fhir.capability(PAS_VERSION)


@bp.post("/Claim/$submit")
def claim_submit_op() -> Response:
    result = claim_submit.submit(fhir.json_body(), current_principal(), fhir.services())
    return _answer(orjson.loads(fhir.submitted(result)))


@bp.post("/Claim/$inquire")
def claim_inquire_op() -> Response:
    """2.0.1's ``$inquire`` returns one Bundle (``return`` 1..1): the most recent match, or
    one saying that nothing matched (X12 901 AA)."""
    services = fhir.services()
    query, bundles = claim_inquire.find(fhir.json_body(), current_principal(), services)
    return _answer(bundles[-1] if bundles else claim_inquire.not_found(query, services))


@bp.post("/Claim/$check-authorization")
def check_authorization_op() -> Response:
    """The same check as at /fhir: its answer is no PAS resource, so it is the same here."""
    return fhir.fhir_response(fhir.checked(fhir.json_body()))


@bp.get("/Claim/<claim_id>")
def claim_read(claim_id: str) -> Response:
    return fhir.fhir_response(orjson.dumps(fhir.read_claim(claim_id)))


@bp.get("/ClaimResponse/<response_id>")
def claim_response_read(response_id: str) -> Response:
    resource = fhir.read_claim_response(response_id)
    url = f"{fhir.services().settings.base_url}/ClaimResponse/{response_id}"
    wrapped = as_v201({"entry": [{"fullUrl": url, "resource": resource}]}, _base())
    return fhir.fhir_response(orjson.dumps(wrapped["entry"][0]["resource"]))


@bp.post("/Subscription")
def subscription_create() -> Response:
    return subscriptions.create(PAS_VERSION)


@bp.get("/Subscription/<sub_id>")
def subscription_read(sub_id: str) -> Response:
    return subscriptions.read(sub_id)


@bp.put("/Subscription/<sub_id>")
def subscription_update(sub_id: str) -> Response:
    return subscriptions.update(sub_id, PAS_VERSION)


@bp.delete("/Subscription/<sub_id>")
def subscription_remove(sub_id: str) -> Response:
    return subscriptions.remove(sub_id)


@bp.route("/Subscription/<sub_id>/$status", methods=["GET", "POST"])
def subscription_status(sub_id: str) -> Response:
    return subscriptions.instance_status(sub_id)


@bp.route("/Subscription/$status", methods=["GET", "POST"])
def subscriptions_status() -> Response:
    return subscriptions.type_status()
