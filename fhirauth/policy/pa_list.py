"""The public list of items and services that need prior authorization (CMS-0057-F), read
off the loaded policies: one row per code, range or prefix an ``auth-required`` rule matches,
with the rule's description, when it applies (its conditions, modifiers, places of service)
and the documentation it needs; and a row for a policy that requires authorization of every
service no rule names (``unlisted: auth-required``). Policies not in effect on the day asked
about are left out. Rules are listed as the payer wrote them, in file order; a service that
a higher-priority ``no-auth`` rule lets through is not taken off the list.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirauth.policy.codes import ALIASES
from fhirauth.policy.loader import Policy, PolicySet, Rule

_SHORT = {uri: name for name, uri in ALIASES.items()}
UNLISTED = "*"


def applies_when(rule: Rule) -> str | None:
    """When the rule applies, in words a reader of the list can follow; None: always."""
    parts = []
    if rule.modifiers:
        parts.append("modifier " + " or ".join(sorted(rule.modifiers)))
    if rule.places:
        parts.append("place of service " + " or ".join(sorted(rule.places)))
    parts += [f"when {c.expression}" for c in rule.when]
    return "; ".join(parts) or None


def _documentation(rule: Rule) -> list[dict[str, Any]]:
    return [
        {"code": d.code, "questionnaire": d.questionnaire, "description": d.description}
        for d in rule.documentation
    ]


def _row(policy: Policy, rule: Rule | None, system: str | None, code: str) -> dict[str, Any]:
    return {
        "policy": policy.id,
        "plan": policy.name,
        "rule": rule.id if rule else None,
        "system": system,
        "systemName": _SHORT.get(system or "", system),
        "code": code,
        "description": (rule.description or None)
        if rule
        else "Any service no rule of this policy names",
        "appliesWhen": applies_when(rule) if rule else None,
        "documentation": _documentation(rule) if rule else [],
    }


def pa_list(policies: PolicySet, on: date) -> list[dict[str, Any]]:
    """The rows of the list, for the policies in effect on ``on``."""
    rows = []
    for policy in policies.policies:
        if not policy.applies_on(on):
            continue
        for rule in policy.rules:
            if rule.outcome == "auth-required":
                rows += [_row(policy, rule, system, code) for system, code in rule.codes]
        if policy.unlisted == "auth-required":
            rows.append(_row(policy, None, None, UNLISTED))
    return rows
