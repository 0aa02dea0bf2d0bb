"""The policies as the console shows them: every policy and its rules in words, and a search
by code that says whether a service needs authorization under each policy, and why.

The search asks the policy's own code index (the lookup the engine decides with), then reads
the rules it finds as the engine would weigh them: highest priority first, and a rule whose
conditions (modifiers, places of service, FHIRPath) hold decides. A rule without conditions
decides for every request, so the rules after it cannot; a conditional one only for the
requests its conditions fit, so the answer is then "it depends", with each branch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from fhirauth.policy.codes import ALIASES, canonical_system
from fhirauth.policy.loader import Policy, PolicySet, Rule
from fhirauth.policy.pa_list import applies_when

__all__ = ["ALIASES", "DEPENDS", "VERDICTS", "catalog", "find", "search"]

_SHORT = {uri: name for name, uri in ALIASES.items()}
VERDICTS = {
    "auth-required": "needs authorization",
    "no-auth": "needs no authorization",
    "not-covered": "is not covered",
}
DEPENDS = "depends"


def short_system(system: str) -> str:
    return _SHORT.get(system, system)


@dataclass(frozen=True)
class RuleView:
    id: str
    description: str
    outcome: str
    priority: int
    codes: tuple[str, ...]  # "cpt 70551-70553"
    applies_when: str | None
    documentation: tuple[dict[str, Any], ...]
    decided_without_review: str | None  # when it is approved (or denied) at once
    limits: tuple[str, ...]  # valid for, units, limits, the denial reason


@dataclass(frozen=True)
class PolicyView:
    id: str
    name: str
    default: bool
    in_effect: bool
    effective: str
    insurers: tuple[str, ...]
    plans: tuple[str, ...]
    unlisted: str
    approval_period_days: int
    adverse_decisions: str
    rules: tuple[RuleView, ...]


def _criteria(rule: Rule) -> str | None:
    parts = []
    if rule.approve is not None:
        when = " and ".join(c.expression for c in rule.approve.conditions) or "always"
        parts.append(f"approved at once when {when}")
    if rule.deny is not None:
        when = " and ".join(c.expression for c in rule.deny.conditions) or "always"
        parts.append(f"denied when {when}")
    return "; ".join(parts) or None


def _limits(rule: Rule) -> tuple[str, ...]:
    out = []
    if rule.valid_for is not None:
        out.append(f"valid for {rule.valid_for.words()}")
    if rule.max_units is not None:
        out.append(f"at most {rule.max_units} units")
    if rule.limit is not None:
        span = f" per {rule.limit.days} days" if rule.limit.days else ""
        out.append(f"limit {rule.limit.quantity}{span}: {rule.limit.reason}")
    if rule.reason_code or rule.reason:
        out.append(f"denial reason {rule.reason_code or ''} {rule.reason or ''}".strip())
    return tuple(out)


def rule_view(rule: Rule) -> RuleView:
    return RuleView(
        id=rule.id,
        description=rule.description,
        outcome=rule.outcome,
        priority=rule.priority,
        codes=tuple(f"{short_system(s)} {c}" for s, c in rule.codes),
        applies_when=applies_when(rule),
        documentation=tuple(
            {"code": d.code, "questionnaire": d.questionnaire, "description": d.description}
            for d in rule.documentation
        ),
        decided_without_review=_criteria(rule),
        limits=_limits(rule),
    )


def _effective(policy: Policy) -> str:
    start, end = policy.effective
    if start is None and end is None:
        return "always"
    return f"{start.isoformat() if start else '…'} to {end.isoformat() if end else '…'}"


def catalog(policies: PolicySet, on: date) -> list[PolicyView]:
    return [
        PolicyView(
            id=p.id,
            name=p.name,
            default=p.default,
            in_effect=p.applies_on(on),
            effective=_effective(p),
            insurers=tuple(f"{s}|{v}" for s, v in sorted(p.insurers)),
            plans=tuple(f"{s}|{v}" if s else v for s, v in p.plans),
            unlisted=p.unlisted,
            approval_period_days=p.approval_period_days,
            adverse_decisions=p.adverse_decisions,
            rules=tuple(rule_view(r) for r in p.rules),
        )
        for p in policies.policies
    ]


@dataclass(frozen=True)
class Branch:
    """One way the search can end: a rule (None: the policy's unlisted default), and the
    condition under which it decides (None: for every request that gets this far)."""

    rule: RuleView | None
    outcome: str
    when: str | None


@dataclass(frozen=True)
class Finding:
    policy: str
    plan: str
    in_effect: bool
    verdict: str  # a VERDICTS value, or DEPENDS
    sentence: str
    branches: tuple[Branch, ...]


def _systems(policy: Policy, system: str | None) -> list[str]:
    if system:
        return [canonical_system(system.strip())]
    return list(dict.fromkeys(s for r in policy.rules for s, _ in r.codes))


def _conditional(rule: Rule) -> bool:
    return bool(rule.modifiers or rule.places or rule.when)


def find(policy: Policy, code: str, system: str | None = None) -> Finding:
    matched: dict[str, Rule] = {}
    for s in _systems(policy, system):
        for rule in policy.index.lookup(s, code):
            matched.setdefault(rule.id, rule)
    branches: list[Branch] = []
    for rule in sorted(matched.values(), key=lambda r: (-r.priority, r.order)):
        view = rule_view(rule)
        branches.append(Branch(view, rule.outcome, view.applies_when))
        if not _conditional(rule):
            break
    else:
        branches.append(Branch(None, policy.unlisted, None))
    outcomes = {b.outcome for b in branches}
    verdict = VERDICTS[outcomes.pop()] if len(outcomes) == 1 else DEPENDS
    return Finding(
        policy.id, policy.name, True, verdict, _sentence(code, verdict, branches), tuple(branches)
    )


def _sentence(code: str, verdict: str, branches: list[Branch]) -> str:
    named = [b for b in branches if b.rule is not None]
    if not named:
        return (
            f"{code} {verdict}: no rule of this policy names it, and the policy says "
            f"{branches[-1].outcome} for services no rule names."
        )
    if verdict != DEPENDS and len(branches) == 1:
        rule = branches[0].rule
        assert rule is not None
        return f"{code} {verdict}: rule {rule.id} ({rule.description})."
    parts = []
    for b in branches:
        who = f"rule {b.rule.id}" if b.rule else "the policy's default for unlisted services"
        cond = f"when {b.when}" if b.when else "otherwise"
        parts.append(f"{cond}, {who} says {b.outcome}")
    return f"{code}: {verdict if verdict == DEPENDS else verdict + ' either way'}: " + (
        "; ".join(parts) + "."
    )


def search(policies: PolicySet, code: str, system: str | None, on: date) -> list[Finding]:
    """What each policy says of ``code`` (in ``system``, or any system the policy uses)."""
    code = code.strip()
    return [
        replace(find(policy, code, system), in_effect=policy.applies_on(on))
        for policy in policies.policies
    ]
