"""The route-to-scope table covers every route the application serves, and nothing else."""

from __future__ import annotations

from flask import Flask

from fhirauth.auth.routes import OPEN, ROUTE_SCOPES, STAFF, required_scope
from fhirauth.auth.scopes import ADMIN_SCOPE, is_known


def served(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_has_a_scope_entry(app: Flask) -> None:
    missing = sorted(k for k in served(app) - ROUTE_SCOPES.keys() if required_scope(*k) is None)
    assert not missing, f"add these routes to fhirauth/auth/routes.py ROUTE_SCOPES: {missing}"


def test_every_console_route_is_for_staff_and_only_those(app: Flask) -> None:
    console = {k for k in served(app) if k[1].startswith("/console")}
    assert console, "the console is served"
    assert all(required_scope(*k) == STAFF for k in console)
    assert not any(k[1].startswith("/console") for k in ROUTE_SCOPES)
    assert required_scope("GET", "/consoles") is None


def test_the_table_names_no_route_that_does_not_exist(app: Flask) -> None:
    assert not sorted(ROUTE_SCOPES.keys() - served(app))


def test_every_scope_in_the_table_is_one_we_grant() -> None:
    for key, scope in ROUTE_SCOPES.items():
        assert scope == OPEN or is_known(scope), key


def test_only_discovery_and_the_token_endpoint_are_open() -> None:
    open_routes = {rule for (_, rule), scope in ROUTE_SCOPES.items() if scope == OPEN}
    assert open_routes == {
        "/fhir/metadata",
        "/fhir/pas/v2.0.1/metadata",
        "/fhir/OperationDefinition/<definition_id>",
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",
        "/auth/token",
        "/static/<path:filename>",
        # Where a person lands (fhirauth.api.home): links, and the CapabilityStatement.
        "/",
        "/fhir",
        "/fhir/",
    }


def test_admin_routes_and_the_audit_trail_need_the_admin_scope() -> None:
    for (_, rule), scope in ROUTE_SCOPES.items():
        if rule.startswith("/admin/") or rule.startswith("/fhir/AuditEvent"):
            assert scope == ADMIN_SCOPE, rule


def test_head_is_get_and_options_is_open() -> None:
    assert required_scope("HEAD", "/fhir/Claim/<claim_id>") == "system/Claim.r"
    assert required_scope("OPTIONS", "/fhir/Claim/$submit") == OPEN
    assert required_scope("GET", "/nowhere") is None
