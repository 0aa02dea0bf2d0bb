"""The policies page: every loaded policy with its rules and what each requires, and a search
by code that says whether a service needs authorization under each policy, and why
(``policy/catalog.py``). Reviewers and administrators alike."""

from __future__ import annotations

from flask import request

from fhirauth.policy.catalog import ALIASES, catalog, search
from fhirauth.web.blueprint import bp, page, services

_MAX_CODE = 64


@bp.get("/policies")
def policies() -> str:
    svc = services()
    today = svc.clock().date()
    code = request.args.get("code", "").strip()[:_MAX_CODE]
    system = request.args.get("system", "").strip()
    if system not in ALIASES:
        system = ""
    findings = search(svc.policies, code, system or None, today) if code else None
    return page(
        "policies.html",
        nav="policies",
        code=code,
        system=system,
        systems=sorted(ALIASES),
        findings=findings,
        policies=catalog(svc.policies, today),
        today=today,
    )
