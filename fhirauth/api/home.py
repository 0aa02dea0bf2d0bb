"""What a person (or a probe) finds at the server's root and at the bare FHIR base.

``GET /`` answers a small JSON document pointing to the FHIR base, its CapabilityStatement, the
SMART configuration, the token endpoint, the admin API and where the documentation is. ``GET /fhir``
answers the CapabilityStatement, as ``GET /fhir/metadata`` does: FHIR defines no interaction on
the bare base, and a person who pastes the base URL into a browser learns most from it. Both are
open, like discovery.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from fhirauth.api.fhir import capability
from fhirauth.operations.metadata import VERSION
from fhirauth.services import Services

bp = Blueprint("home", __name__)

# No public documentation site: the README travels with the source.
DOCS = "README.md and examples/README.md in the fhirauth source"


def home_document(svc: Services) -> dict[str, Any]:
    settings = svc.settings
    base = settings.base_url.rstrip("/")
    root = base.removesuffix("/fhir")
    return {
        "name": "fhirauth",
        "description": "Payer-side Da Vinci PAS prior-authorization server (FHIR R4)",
        "version": VERSION,
        "fhir": base,
        "metadata": f"{base}/metadata",
        "pas201": {"fhir": f"{base}/pas/v2.0.1", "metadata": f"{base}/pas/v2.0.1/metadata"},
        "smartConfiguration": f"{root}/.well-known/smart-configuration",
        "tokenEndpoint": settings.token_endpoint,
        "authentication": settings.auth_mode,
        "admin": {"url": f"{root}/admin", "scope": "system/fhirauth.admin"},
        "sandbox": settings.sandbox,
        "documentation": DOCS,
    }


@bp.get("/")
def root() -> Response:
    return jsonify(home_document(current_app.extensions["fhirauth"]))


@bp.get("/fhir")
@bp.get("/fhir/")
def fhir_base() -> Response:
    return capability("2.2.1")
