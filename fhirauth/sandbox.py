"""Sandbox mode: scripted outcomes for interoperability testing.

A tester scripts the outcome of a client's next submission(s); fhirauth then answers that
outcome for every item whatever the bundle holds, and does not replay duplicates. This is how
a payer runs the official conformance suite, whose approval and denial inputs are
byte-identical bundles.
"""

from __future__ import annotations

from decimal import Decimal

from fhirauth.membership import Eligibility
from fhirauth.policy import Documentation, ItemContext, Policy, RuleResult

OUTCOMES = ("A1", "A2", "A3", "A4", "A6", "NA", "CT", "error")
SANDBOX_DENIAL_CODE = "SANDBOX"
# A scripted pend asks for one document (a CDex attachment) and one questionnaire (DTR), so a
# tester sees both kinds of PAS additional-information request.
_DOCS = (
    Documentation("Sandbox: progress note for the requested service", code="11506-3"),
    Documentation(
        "Sandbox: the payer's questionnaire for the requested service",
        questionnaire="http://fhirauth.example.org/fhir/Questionnaire/sandbox",
    ),
)


def scripted_results(outcome: str, contexts: list[ItemContext], policy: Policy) -> list[RuleResult]:
    out = []
    for ctx in contexts:
        trace = {
            "policy": policy.id,
            "codes": [f"{s}|{c}" for s, c in ctx.codes],
            "decided_by": "sandbox",
            "why": f"sandbox script: answer {outcome}",
            "outcome": outcome,
        }
        requested = ctx.quantity if ctx.quantity is not None else Decimal(2)
        reduced = max(Decimal(1), (requested / 2).to_integral_value())
        extra: dict[str, object] = {}
        if outcome == "A3":
            extra = {
                "reason_code": SANDBOX_DENIAL_CODE,
                "reason": "Sandbox: this denial was scripted by the tester.",
            }
        elif outcome in ("A2", "A6"):
            extra = {
                "authorized_quantity": reduced,
                "reason": f"Sandbox: authorized {reduced} of the {requested} requested.",
            }
        elif outcome == "A4":
            extra = {"missing": _DOCS, "required": _DOCS}
        out.append(
            RuleResult(
                sequence=ctx.sequence,
                policy_id=policy.id,
                rule_id="sandbox",
                action=outcome,
                period_days=policy.approval_period_days,
                trace=trace,
                **extra,
            )
        )  # type: ignore[arg-type]
    return out


SCRIPTED_ERROR = Eligibility(
    False, "75", "Sandbox: the member was scripted as not found", "identifier"
)
