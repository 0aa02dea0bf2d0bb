"""The one route-to-scope table: which SMART scope every endpoint requires.

Keys are ``(method, Flask rule)``; values are the scope a token must cover (see
``scopes.allows``) or ``OPEN`` for the few endpoints anyone may call. A route missing here is
refused (``tests/auth/test_routes.py`` fails when one is added without an entry). Every rule
under ``/console`` is ``STAFF``: the console's own sign-in guards it (fhirauth.web). HEAD is
treated as GET; OPTIONS, which only lists the allowed methods, is open.
"""

from __future__ import annotations

from typing import Final

from fhirauth.auth.scopes import ADMIN_SCOPE, parse

OPEN: Final = "open"
# The console (fhirauth.web): staff sign in there with a password and a server-side session;
# access tokens play no part, so every rule under it is this marker, not a scope.
STAFF: Final = "staff"
CONSOLE: Final = "/console"

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    # Discovery and the token endpoint.
    ("GET", "/fhir/metadata"): OPEN,
    ("GET", "/fhir/OperationDefinition/<definition_id>"): OPEN,
    ("GET", "/.well-known/smart-configuration"): OPEN,
    ("GET", "/fhir/.well-known/smart-configuration"): OPEN,
    ("POST", "/auth/token"): OPEN,
    ("GET", "/static/<path:filename>"): OPEN,
    # Where a person lands: a pointer document, and the bare base's CapabilityStatement.
    ("GET", "/"): OPEN,
    ("GET", "/fhir"): OPEN,
    ("GET", "/fhir/"): OPEN,
    # PAS: a submission (initial, update, cancel) and its documentation create data
    # (v1: system/Claim.write); an inquiry is a search by example (v1: system/Claim.read).
    ("POST", "/fhir/Claim/$submit"): "system/Claim.c",
    ("POST", "/fhir/$submit-attachment"): "system/Claim.c",
    ("POST", "/fhir/Claim/$inquire"): "system/Claim.s",
    # A billed claim against the authorizations on file: reads them, and with record=true
    # consumes their units (v1: system/Claim.write).
    ("POST", "/fhir/Claim/$check-authorization"): "system/Claim.c",
    ("GET", "/fhir/Claim/<claim_id>"): "system/Claim.r",
    ("GET", "/fhir/ClaimResponse/<response_id>"): "system/ClaimResponse.r",
    ("POST", "/fhir/CoverageEligibilityRequest/$submit"): "system/CoverageEligibilityRequest.c",
    # Subscriptions (R5 Backport).
    ("POST", "/fhir/Subscription"): "system/Subscription.c",
    ("GET", "/fhir/Subscription/<sub_id>"): "system/Subscription.r",
    ("PUT", "/fhir/Subscription/<sub_id>"): "system/Subscription.u",
    ("DELETE", "/fhir/Subscription/<sub_id>"): "system/Subscription.d",
    ("GET", "/fhir/Subscription/<sub_id>/$status"): "system/Subscription.r",
    ("POST", "/fhir/Subscription/<sub_id>/$status"): "system/Subscription.r",
    ("GET", "/fhir/Subscription/$status"): "system/Subscription.s",
    ("POST", "/fhir/Subscription/$status"): "system/Subscription.s",
    # The PAS 2.0.1 base: the same scopes as the 2.2.1 base.
    ("GET", "/fhir/pas/v2.0.1/metadata"): OPEN,
    ("POST", "/fhir/pas/v2.0.1/Claim/$submit"): "system/Claim.c",
    ("POST", "/fhir/pas/v2.0.1/Claim/$inquire"): "system/Claim.s",
    ("POST", "/fhir/pas/v2.0.1/Claim/$check-authorization"): "system/Claim.c",
    ("GET", "/fhir/pas/v2.0.1/Claim/<claim_id>"): "system/Claim.r",
    ("GET", "/fhir/pas/v2.0.1/ClaimResponse/<response_id>"): "system/ClaimResponse.r",
    ("POST", "/fhir/pas/v2.0.1/Subscription"): "system/Subscription.c",
    ("GET", "/fhir/pas/v2.0.1/Subscription/<sub_id>"): "system/Subscription.r",
    ("PUT", "/fhir/pas/v2.0.1/Subscription/<sub_id>"): "system/Subscription.u",
    ("DELETE", "/fhir/pas/v2.0.1/Subscription/<sub_id>"): "system/Subscription.d",
    ("GET", "/fhir/pas/v2.0.1/Subscription/<sub_id>/$status"): "system/Subscription.r",
    ("POST", "/fhir/pas/v2.0.1/Subscription/<sub_id>/$status"): "system/Subscription.r",
    ("GET", "/fhir/pas/v2.0.1/Subscription/$status"): "system/Subscription.s",
    ("POST", "/fhir/pas/v2.0.1/Subscription/$status"): "system/Subscription.s",
    # The payer's side: audit trail, decision traces, reviewer API, sandbox.
    ("GET", "/fhir/AuditEvent"): ADMIN_SCOPE,
    ("GET", "/fhir/AuditEvent/<event_id>"): ADMIN_SCOPE,
    ("GET", "/admin/authorizations/<key>"): ADMIN_SCOPE,
    ("GET", "/admin/authorizations/<key>/trace"): ADMIN_SCOPE,
    ("GET", "/admin/review/queue"): ADMIN_SCOPE,
    ("GET", "/admin/review/<key>"): ADMIN_SCOPE,
    ("POST", "/admin/review/<key>/decisions"): ADMIN_SCOPE,
    ("POST", "/admin/review/<key>/reopen"): ADMIN_SCOPE,
    ("POST", "/admin/review/<key>/extend"): ADMIN_SCOPE,
    ("GET", "/admin/sandbox/scripts"): ADMIN_SCOPE,
    ("POST", "/admin/sandbox/scripts"): ADMIN_SCOPE,
    ("DELETE", "/admin/sandbox/scripts"): ADMIN_SCOPE,
}


def required_scope(method: str, rule: str) -> str | None:
    """The scope for a matched route, ``OPEN``, or None when the table has no entry."""
    if method == "OPTIONS":
        return OPEN
    if rule == CONSOLE or rule.startswith(CONSOLE + "/"):
        return STAFF
    return ROUTE_SCOPES.get(("GET" if method == "HEAD" else method, rule))


def scopes_supported() -> list[str]:
    """For the SMART configuration: each scope the table uses, in its v1 and v2 spellings."""
    out: list[str] = []
    for scope in ROUTE_SCOPES.values():
        if scope in (OPEN, STAFF):
            continue
        parsed = parse(scope)
        if parsed is None:
            out.append(scope)
            continue
        r = parsed.resource
        out += [f"system/{r}.read", f"system/{r}.write", f"system/{r}.rs", f"system/{r}.cud"]
    out += ["system/*.read", "system/*.write", "system/*.*", "system/*.cruds"]
    return list(dict.fromkeys(out))
