"""Evaluate one Claim item against a policy: which rule decides, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirauth.policy.loader import Policy, Rule


@dataclass(frozen=True)
class RuleResult:
    """What the policy says about one item, with the trace that explains it."""

    sequence: int
    policy_id: str
    rule_id: str | None
    outcome: str
    period_days: int
    reason_code: str | None = None
    reason: str | None = None
    trace: dict[str, Any] = field(default_factory=dict)


def item_codes(item: dict[str, Any]) -> list[tuple[str, str]]:
    codes = []
    for coding in (item.get("productOrService") or {}).get("coding") or []:
        if coding.get("system") and coding.get("code"):
            codes.append((coding["system"], coding["code"]))
    return codes


def evaluate_item(policy: Policy, item: dict[str, Any]) -> RuleResult:
    sequence = int(item["sequence"])
    codes = item_codes(item)
    matched: dict[str, tuple[Rule, list[str]]] = {}
    for system, code in codes:
        for rule in policy.index.lookup(system, code):
            matched.setdefault(rule.id, (rule, []))[1].append(f"{system}|{code}")
    trace: dict[str, Any] = {
        "policy": policy.id,
        "codes": [f"{s}|{c}" for s, c in codes],
        "matched": [
            {"rule": r.id, "priority": r.priority, "codes": cs}
            for r, cs in sorted(matched.values(), key=lambda m: m[0].order)
        ],
    }
    if not matched:
        trace["decided_by"] = None
        trace["why"] = f"no rule names these codes; the policy says '{policy.unlisted}' for them"
        return RuleResult(
            sequence, policy.id, None, policy.unlisted, policy.approval_period_days, trace=trace
        )
    rule = max((r for r, _ in matched.values()), key=lambda r: (r.priority, -r.order))
    trace["decided_by"] = rule.id
    trace["why"] = rule.description or rule.id
    return RuleResult(
        sequence,
        policy.id,
        rule.id,
        rule.outcome,
        rule.period_days or policy.approval_period_days,
        rule.reason_code,
        rule.reason,
        trace,
    )
