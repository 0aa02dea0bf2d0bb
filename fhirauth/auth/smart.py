"""What fhirauth tells clients about its security: the SMART configuration document and the
CapabilityStatement's ``rest.security``."""

from __future__ import annotations

from typing import Any

from fhirauth.auth.assertion import ALGORITHMS
from fhirauth.auth.routes import scopes_supported
from fhirauth.config import Settings

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_configuration(settings: Settings) -> dict[str, Any]:
    """``/.well-known/smart-configuration`` for SMART Backend Services."""
    return {
        "token_endpoint": settings.token_endpoint,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": scopes_supported(),
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


def capability_security(settings: Settings) -> dict[str, Any] | None:
    """``CapabilityStatement.rest.security`` when tokens are required; None when auth is off."""
    if settings.auth_mode == "off":
        return None
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": "token", "valueUri": settings.token_endpoint}],
            }
        ],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "SMART Backend Services",
            }
        ],
        "description": (
            "SMART Backend Services: client_credentials with a private_key_jwt assertion "
            "(RS384 or ES384) at the token endpoint; send the access token as "
            "'Authorization: Bearer'. Discovery: [base]/.well-known/smart-configuration."
        ),
    }
