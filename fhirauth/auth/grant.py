"""The token endpoint's logic: a client_credentials request in, an access token out.

Errors are RFC 6749 §5.2 ``OAuthError``s (``invalid_request``, ``invalid_client``,
``invalid_scope``, ``unsupported_grant_type``); ``api/auth.py`` renders them as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fhirauth.auth import assertion, ratelimit, scopes, tokens
from fhirauth.auth.assertion import ASSERTION_TYPE, OAuthError
from fhirauth.auth.jwks import JwksCache
from fhirauth.config import parse_rate_limit
from fhirauth.services import Services

log = logging.getLogger("fhirauth.auth")

GRANT_TYPE = "client_credentials"


class RateLimited(Exception):
    def __init__(self, client_id: str, retry_after: int) -> None:
        super().__init__(f"client {client_id} is over its rate limit")
        self.client_id = client_id
        self.retry_after = retry_after


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        raise OAuthError("invalid_request", f"{name} is given more than once")
    return values[0] if values else None


def token(
    form: Mapping[str, list[str]], services: Services, jwks: JwksCache
) -> tuple[dict[str, Any], str]:
    """The token response for a form-encoded request (each name with all its values), and the
    client it was issued to."""
    for name, values in form.items():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"{name[:40]} is given more than once")
    grant_type = _one(form, "grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != GRANT_TYPE:
        raise OAuthError(
            "unsupported_grant_type", f"grant_type must be {GRANT_TYPE} (SMART Backend Services)"
        )
    if _one(form, "client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    signed = _one(form, "client_assertion")
    if not signed:
        raise OAuthError("invalid_request", "client_assertion is required")
    requested = _one(form, "scope")
    if not requested or not requested.strip():
        raise OAuthError("invalid_request", "scope is required")

    settings, now = services.settings, services.clock()
    with services.sessions() as session:
        client, jti, expires_at = assertion.verify(session, signed, settings, now, jwks)
        client_id, registered = client.id, list(client.scopes)
        organizations = list(client.organizations)
        senders = list(client.sender_ids or [])
    named = _one(form, "client_id")
    if named is not None and named != client_id:
        raise OAuthError("invalid_client", "client_id differs from the assertion's iss")
    assertion.remember_jti(services.sessions, client_id, jti, expires_at, now)

    limit = parse_rate_limit(settings.rate_limit)
    if limit:
        wait = ratelimit.hit(services.sessions, client_id, limit, now)
        if wait is not None:
            raise RateLimited(client_id, wait)

    granted = scopes.intersect(scopes.split(requested), registered)
    if not granted:
        raise OAuthError(
            "invalid_scope",
            "none of the requested scopes is granted to this client",
            client_id=client_id,
        )
    access, lifetime = tokens.issue(settings, client_id, granted, organizations, now, senders)
    log.info("token issued to client %s: %s", client_id, " ".join(granted))
    answer = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": " ".join(granted),
    }
    return answer, client_id
