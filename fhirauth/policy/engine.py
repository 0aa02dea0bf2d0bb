"""Evaluate one item against a policy: which rule decides, what it says, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from fhirauth.policy.conditions import Condition
from fhirauth.policy.context import ItemContext
from fhirauth.policy.duration import Duration
from fhirauth.policy.loader import Documentation, Policy, Rule

ADVERSE = frozenset({"A2", "A3", "A6"})


@dataclass(frozen=True)
class RuleResult:
    """What the policy says about one item, with the trace that explains it.

    ``action`` is the review action to answer now; ``recommendation`` is what the rule would
    have decided where a human must decide instead (an adverse outcome that pends).
    """

    sequence: int
    policy_id: str
    rule_id: str | None
    action: str
    period_days: int
    recommendation: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    authorized_quantity: Decimal | None = None
    authorized_days: int | None = None
    missing: tuple[Documentation, ...] = ()
    required: tuple[Documentation, ...] = ()
    authorization_url: str | None = None
    excluded: bool = False
    # The rule's bounds on one authorization, extensions included (valid_for, max_units).
    valid_for: Duration | None = None
    max_units: Decimal | None = None
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def authorization_required(self) -> bool:
        return self.action != "NA" and not self.excluded


def _check(conditions: tuple[Condition, ...], ctx: ItemContext) -> tuple[bool, list[dict]]:
    results = [{"expression": c.expression, "result": c.outcome(ctx.variables)} for c in conditions]
    return all(r["result"] is True for r in results), results


def _applies(rule: Rule, ctx: ItemContext) -> tuple[bool, list[dict[str, Any]]]:
    checks: list[dict[str, Any]] = []
    if rule.modifiers:
        ok = bool(rule.modifiers & ctx.modifiers)
        checks.append({"check": "modifiers", "expected": sorted(rule.modifiers), "result": ok})
        if not ok:
            return False, checks
    if rule.places:
        ok = bool(rule.places & ctx.places)
        checks.append({"check": "place_of_service", "expected": sorted(rule.places), "result": ok})
        if not ok:
            return False, checks
    if rule.when:
        ok, results = _check(rule.when, ctx)
        checks.append({"check": "when", "conditions": results, "result": ok})
        return ok, checks
    return True, checks


def evaluate_item(policy: Policy, ctx: ItemContext) -> RuleResult:
    matched: dict[str, tuple[Rule, list[str]]] = {}
    for system, code in ctx.codes:
        for rule in policy.index.lookup(system, code):
            matched.setdefault(rule.id, (rule, []))[1].append(f"{system}|{code}")
    trace: dict[str, Any] = {
        "policy": policy.id,
        "codes": [f"{s}|{c}" for s, c in ctx.codes],
        "candidates": [],
    }
    deciding: Rule | None = None
    for rule, codes in sorted(matched.values(), key=lambda m: (-m[0].priority, m[0].order)):
        applies, checks = _applies(rule, ctx)
        trace["candidates"].append(
            {
                "rule": rule.id,
                "priority": rule.priority,
                "codes": codes,
                "checks": checks,
                "applies": applies,
            }
        )
        if applies and deciding is None:
            deciding = rule
    base = {
        "sequence": ctx.sequence,
        "policy_id": policy.id,
        "period_days": policy.approval_period_days,
    }
    if deciding is None:
        trace["decided_by"] = None
        action = "NA" if policy.unlisted == "no-auth" else "A4"
        trace["why"] = (
            f"no rule applies to these codes; the policy says {policy.unlisted} "
            "for unlisted services"
        )
        trace["outcome"] = action
        return RuleResult(rule_id=None, action=action, trace=trace, **base)
    trace["decided_by"] = deciding.id
    result = _decide(policy, deciding, ctx, trace, base)
    trace["outcome"] = result.action
    if result.recommendation:
        trace["recommendation"] = result.recommendation
    return result


def _decide(
    policy: Policy, rule: Rule, ctx: ItemContext, trace: dict[str, Any], base: dict[str, Any]
) -> RuleResult:
    common = {
        **base,
        "rule_id": rule.id,
        "trace": trace,
        "required": rule.documentation,
        "authorization_url": rule.authorization_url,
        "valid_for": rule.valid_for,
        "max_units": rule.max_units,
    }
    steps: list[dict[str, Any]] = []
    trace["steps"] = steps
    if rule.outcome == "no-auth":
        trace["why"] = rule.description or "no authorization needed"
        return RuleResult(action="NA", **common)
    if rule.outcome == "not-covered":
        trace["why"] = rule.reason
        # Not a covered benefit is administrative: no clinical judgement for a reviewer to make.
        return RuleResult(
            action="A3", reason_code=rule.reason_code, reason=rule.reason, excluded=True, **common
        )

    if rule.deny:
        met, results = _check(rule.deny.conditions, ctx)
        steps.append({"step": "deny", "conditions": results, "met": met})
        if met:
            trace["why"] = rule.deny.reason
            return _adverse(
                policy,
                "A3",
                rule.deny.administrative,
                common,
                reason_code=rule.deny.reason_code,
                reason=rule.deny.reason,
            )

    missing = tuple(d for d in rule.documentation if not _supplied(d, ctx))
    if rule.documentation:
        steps.append(
            {
                "step": "documentation",
                "required": [d.key for d in rule.documentation],
                "missing": [d.key for d in missing],
            }
        )
    if missing:
        trace["why"] = "documentation is missing: " + "; ".join(d.description for d in missing)
        return RuleResult(action="A4", missing=missing, **common)

    if rule.approve is None:
        trace["why"] = rule.description or "needs clinical review"
        return RuleResult(action="A4", **common)
    met, results = _check(rule.approve.conditions, ctx)
    steps.append({"step": "approve", "conditions": results, "met": met})
    if not met:
        trace["why"] = "approval criteria not met; a reviewer decides"
        return RuleResult(action="A4", **common)
    period = rule.approve.period_days or policy.approval_period_days
    start = _start(ctx)
    if rule.valid_for is not None and start is not None:
        period = min(period, (rule.valid_for.last_day(start) - start).days + 1)
    common["period_days"] = period

    if rule.limit:
        over = _over_limit(rule, ctx)
        steps.append(
            {
                "step": "limit",
                **{k: str(v) if isinstance(v, Decimal) else v for k, v in over.items()},
            }
        )
        if over["exceeded"]:
            trace["why"] = rule.limit.reason
            action = "A6" if rule.limit.action == "modify" else "A2"
            return _adverse(
                policy,
                action,
                rule.limit.administrative,
                common,
                reason_code=rule.limit.reason_code,
                reason=rule.limit.reason,
                authorized_quantity=over.get("authorized_quantity"),
                authorized_days=over.get("authorized_days"),
            )
    bounded = _over_bounds(rule, ctx, start)
    if bounded:
        steps.append({"step": "bounds", **bounded})
        trace["why"] = bounded["reason"]
        return _adverse(
            policy,
            "A2",
            True,  # a benefit's bounds are administrative: no clinical judgement
            common,
            reason_code=rule.limit.reason_code if rule.limit else None,
            reason=bounded["reason"],
            authorized_quantity=bounded.get("authorized_quantity"),
            authorized_days=bounded.get("authorized_days"),
        )
    trace["why"] = rule.description or "approval criteria met"
    return RuleResult(action="A1", **common)


def _start(ctx: ItemContext) -> date | None:
    """The first day of service the item asks for (the service date the conditions see)."""
    if ctx.requested:
        return ctx.requested[0]
    seen = ctx.variables.get("serviceDate")
    return date.fromisoformat(seen) if isinstance(seen, str) else None


def _over_bounds(rule: Rule, ctx: ItemContext, start: date | None) -> dict[str, Any]:
    """What of the request lies beyond the rule's ``max_units`` and ``valid_for``: the
    authorized quantity and days, and the sentence that says so (empty: nothing)."""
    out: dict[str, Any] = {}
    said = []
    if rule.max_units is not None and ctx.quantity is not None and ctx.quantity > rule.max_units:
        out["authorized_quantity"] = rule.max_units
        said.append(f"at most {rule.max_units.normalize():f} units")
    if rule.valid_for is not None and ctx.requested and start is not None:
        allowed = (rule.valid_for.last_day(start) - start).days + 1
        if (ctx.requested[1] - ctx.requested[0]).days + 1 > allowed:
            out["authorized_days"] = allowed
            said.append(f"for at most {rule.valid_for.words()}")
    if said:
        out["reason"] = (
            "The plan authorizes this service " + " and ".join(said) + " per authorization; "
            "request an extension before the authorization runs out."
        )
    return out


def _supplied(doc: Documentation, ctx: ItemContext) -> bool:
    if doc.code:
        return doc.code in ctx.documents
    return str(doc.questionnaire).split("|", 1)[0] in ctx.questionnaires


def _over_limit(rule: Rule, ctx: ItemContext) -> dict[str, Any]:
    limit = rule.limit
    assert limit is not None
    out: dict[str, Any] = {"exceeded": False}
    if limit.quantity is not None and ctx.quantity is not None and ctx.quantity > limit.quantity:
        out.update(
            exceeded=True, requested_quantity=str(ctx.quantity), authorized_quantity=limit.quantity
        )
    if limit.days is not None and ctx.requested:
        days = (ctx.requested[1] - ctx.requested[0]).days + 1
        if days > limit.days:
            out.update(exceeded=True, requested_days=days, authorized_days=limit.days)
    return out


def _adverse(
    policy: Policy, action: str, administrative: bool, common: dict[str, Any], **decided: Any
) -> RuleResult:
    """Adverse outcomes (A2, A3, A6) stand on their own only when administrative or when the
    policy opts in; otherwise the item pends with the outcome as the reviewer's recommendation."""
    if administrative or policy.adverse_decisions == "automatic":
        return RuleResult(action=action, **common, **decided)
    common["trace"]["why"] += " (recommended; a qualified reviewer decides adverse outcomes)"
    return RuleResult(action="A4", recommendation=action, **common, **decided)
