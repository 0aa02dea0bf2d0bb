"""SMART Backend Services over HTTP: discovery, the token endpoint, and the hooks that
authenticate, authorize (from ``fhirauth.auth.routes``), rate-limit and audit every request."""

from __future__ import annotations

import contextlib
import logging

import orjson
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from fhirauth.auth import assertion, audit, clients, grant, ratelimit, scopes, tokens
from fhirauth.auth.assertion import OAuthError
from fhirauth.auth.jwks import JwksCache
from fhirauth.auth.routes import OPEN, STAFF, required_scope
from fhirauth.auth.smart import smart_configuration
from fhirauth.config import parse_rate_limit
from fhirauth.errors import Forbidden, InsufficientScope, TooManyRequests, Unauthorized
from fhirauth.principal import ANONYMOUS, Principal
from fhirauth.services import Services

log = logging.getLogger("fhirauth.auth")

bp = Blueprint("auth", __name__)

OFF_WARNING = '199 fhirauth "authentication is off"'
_FORM = "application/x-www-form-urlencoded"
_JSON_TYPES = ("application/fhir+json", "application/json")
_MAX_AUDITED_BODY = 4 * 1024 * 1024
_SMART_BYTES = "fhirauth.smart-configuration"


def services() -> Services:
    return current_app.extensions["fhirauth"]


def current_principal() -> Principal:
    """Who is calling: the client its access token names, or the anonymous principal on open
    endpoints and when authentication is off. Set by ``authenticate`` for every request."""
    found = g.get("principal")
    if not isinstance(found, Principal):
        raise RuntimeError("no principal: fhirauth.api.auth.authenticate did not run")
    return found


@bp.get("/.well-known/smart-configuration")
@bp.get("/fhir/.well-known/smart-configuration")
def smart_config() -> Response:
    resp = Response(_smart_configuration_bytes(), mimetype="application/json")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


def _smart_configuration_bytes() -> bytes:
    """The document as ``jsonify`` writes it, built on the app's first request for it."""
    found = current_app.extensions.get(_SMART_BYTES)
    if not isinstance(found, bytes):
        found = jsonify(smart_configuration(services().settings)).get_data()
        current_app.extensions[_SMART_BYTES] = found
    return found


def _oauth_error(exc: OAuthError) -> Response:
    resp = Response(
        orjson.dumps({"error": exc.error, "error_description": exc.description}),
        status=400,
        mimetype="application/json",
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


@bp.post("/auth/token")
def token() -> Response:
    """client_credentials with a signed JWT assertion (SMART Backend Services)."""
    svc = services()
    try:
        if request.mimetype != _FORM:
            raise OAuthError("invalid_request", f"send the token request as {_FORM}")
        answer, client_id = grant.token(
            request.form.to_dict(flat=False), svc, current_app.extensions["fhirauth.jwks"]
        )
    except OAuthError as exc:
        g.audit_detail = f"{exc.error}: {exc.detail}"
        if exc.client_id:
            g.audit_detail = f"client {exc.client_id}: {g.audit_detail}"
            if exc.error == "invalid_scope":
                g.audit_agent = exc.client_id
        log.info("token refused: %s", g.audit_detail)
        return _oauth_error(exc)
    except grant.RateLimited as exc:
        g.audit_agent = exc.client_id
        g.audit_detail = "rate limit"
        raise TooManyRequests(exc.retry_after) from None
    g.audit_agent = client_id
    resp = Response(orjson.dumps(answer), mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def authenticate() -> None:
    """``before_request``: the caller's principal, its scopes checked against the route table.

    Open endpoints, and every endpoint with FHIRAUTH_AUTH=off, act as the anonymous principal.
    Otherwise: no token 401, a bad or expired one 401 ``invalid_token``, a disabled client
    401, over the rate limit 429, a scope missing 403.
    """
    g.principal = ANONYMOUS
    audit.open_request(None)
    rule = request.url_rule
    if rule is None:
        return  # no such route (404) or method (405): Flask answers
    needed = required_scope(request.method, rule.rule)
    svc = services()
    settings = svc.settings
    if needed is None:
        log.error(
            "route %s %s has no entry in fhirauth.auth.routes: refused", request.method, rule.rule
        )
        g.audit_detail = "no scope is defined for this route"
        raise Forbidden("this endpoint has no scope assigned, so nobody may call it")
    if needed == OPEN and request.method == "GET":
        # Public documents (CapabilityStatement, SMART configuration, OperationDefinitions,
        # the home page) hold no PHI and decide nothing: not audited. At a row and a commit per
        # fetch, their audit cost more than the rest of the request.
        g.audit_skip = True
    if needed == STAFF:
        # The console signs its staff in itself (fhirauth.web.blueprint), whatever
        # FHIRAUTH_AUTH says; an access token sent here opens nothing.
        return
    if needed == OPEN or settings.auth_mode == "off":
        _audit_in_operation(ANONYMOUS.id)
        return
    header = request.headers.get("Authorization", "")
    if not header.strip():
        g.audit_detail = "no access token"
        raise Unauthorized(
            "this endpoint needs an access token (SMART Backend Services): send "
            f"'Authorization: Bearer <token>'; tokens come from {settings.token_endpoint}"
        )
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        g.audit_detail = "malformed Authorization header"
        raise Unauthorized(
            "the Authorization header must be 'Bearer <access token>'", "invalid_token"
        )
    now = svc.clock()
    try:
        access = tokens.verify(settings, value.strip(), now)
    except tokens.TokenRejected as exc:
        g.audit_detail = exc.reason
        raise Unauthorized(exc.reason, "invalid_token", expired=exc.expired) from None
    with svc.sessions() as session:
        enabled = clients.is_enabled(session, access.client_id)
    if not enabled:
        g.audit_detail = f"client {access.client_id[:64]} is disabled"
        raise Unauthorized("the client this token was issued to is disabled", "invalid_token")
    g.principal = access.principal
    g.scopes = access.scopes
    limit = parse_rate_limit(settings.rate_limit)
    if limit:
        wait = ratelimit.hit(svc.sessions, access.client_id, limit, now)
        if wait is not None:
            g.audit_detail = "rate limit"
            raise TooManyRequests(wait)
    if not scopes.allows(access.scopes, needed):
        g.audit_detail = f"scope {needed} missing"
        raise InsufficientScope(needed)
    _audit_in_operation(access.principal.id)


def _audit_in_operation(agent: str) -> None:
    """Let an operation that stores what this request changes write its audit row in the
    same transaction (``audit.record_in``)."""
    audit.open_request(
        audit.Pending(
            agent,
            request.method,
            request.url_rule.rule if request.url_rule else None,
            request.remote_addr,
        )
    )


def _entities(response: Response) -> list[str]:
    found = audit.entities_from_route(request.view_args)
    found += g.get("audit_entities", [])
    if (
        request.method in ("POST", "PUT")
        and not g.get("audit_answer_named")  # the route named what it answered
        and response.status_code < 300
        and response.mimetype in _JSON_TYPES
        and not response.is_streamed
        and (response.content_length or 0) <= _MAX_AUDITED_BODY
    ):
        with contextlib.suppress(orjson.JSONDecodeError):
            found += audit.entities_from_answer(orjson.loads(response.get_data()))
    return found


def _known_authorization(entities: list[str]) -> dict[str, str]:
    """``g.audit_authorization``, set by a route that answered one ClaimResponse and knows its
    authorization, as ``audit.Entry.authorizations``."""
    known = g.get("audit_authorization")
    responses = {e.split("/", 1)[1] for e in entities if e.startswith("ClaimResponse/")}
    if not isinstance(known, str) or len(responses) != 1:
        return {}
    return {responses.pop(): known}


def finish(response: Response) -> Response:
    """``after_request``: the off-mode warning, then the audit row (a failure to write it is
    logged and never changes the response)."""
    svc = services()
    if svc.settings.auth_mode == "off":
        response.headers["Warning"] = OFF_WARNING
    pending = audit.close_request()
    if g.get("audit_skip"):
        return response
    if pending is not None and pending.written and response.status_code == 200:
        return response  # written with the operation's own commit
    try:
        principal = g.get("principal") or ANONYMOUS
        entities = _entities(response)
        entry = audit.Entry(
            agent=g.get("audit_agent") or principal.id,
            method=request.method,
            route=request.url_rule.rule if request.url_rule else None,
            status=response.status_code,
            detail=g.get("audit_detail"),
            entities=entities,
            address=request.remote_addr,
            authorizations=_known_authorization(entities),
        )
        audit.record(svc.engine, entry, svc.clock())
    except Exception as exc:  # the answer stands; the failure is logged
        log.error("audit record not written: %s", type(exc).__name__)
    return response


def init_app(app: Flask) -> None:
    """Register the hooks; say loudly when authentication is off."""
    settings = app.extensions["fhirauth"].settings
    assertion.prepare()
    app.extensions["fhirauth.jwks"] = JwksCache(
        max_bytes=settings.jwks_max_bytes, deadline=settings.jwks_timeout
    )
    app.before_request(authenticate)
    app.after_request(finish)
    mode = settings.auth_mode
    if mode == "off":
        log.warning(
            "AUTHENTICATION IS OFF (FHIRAUTH_AUTH=off): every request acts as the anonymous "
            "principal, /admin is open; never expose this server"
        )
    else:
        log.info(
            "authentication %s: SMART Backend Services tokens on every protected endpoint", mode
        )
