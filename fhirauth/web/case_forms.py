"""The case page's forms: a reviewer's decision on one pended item, an administrator's
reopening of a final one and assignment, read and checked with marshmallow (the admin API's
checks, from operations/review_input.py, as HTML forms send them: text fields, empty ones
meaning "not given"), and the X12 886 reason codes a denial chooses from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from fhirauth.operations import review_input as checks
from fhirauth.operations.review import ACTIONS, LOINC_NAMES, ReviewDecision
from fhirauth.policy.loader import PolicySet

# The reason a reviewer gives most: the plan's medical necessity criteria are not met. The
# policies' own codes are added to it (X12 886 is licensed; these are the demo's placeholders).
REVIEWER_REASONS = {"MN": "medical necessity criteria not met"}
ACTION_LABELS = {
    "approve": "approved",
    "modify": "partially approved (modified)",
    "deny": "denied",
    "request-info": "pended for more information",
    "reopen": "reopened: pended (A4) again, to be decided",
}


class FormError(ValueError):
    """A form that cannot be acted on, with the sentence that says why."""


def reason_codes(policies: PolicySet) -> list[tuple[str, str]]:
    """(code, label) of every X12 886 reason code the loaded policies deny or limit with, and
    the reviewer's own; the label names the rules that use it."""
    used: dict[str, list[str]] = {}
    for policy in policies.policies:
        for rule in policy.rules:
            for code in (
                rule.reason_code,
                rule.deny.reason_code if rule.deny else None,
                rule.limit.reason_code if rule.limit else None,
                rule.approve.reason_code if rule.approve else None,
            ):
                if code:
                    used.setdefault(code, []).append(rule.id)
    out = {code: f"{code}: {label}" for code, label in REVIEWER_REASONS.items()}
    for code, rules in used.items():
        named = ", ".join(dict.fromkeys(rules))
        out[code] = f"{out[code]}; rules {named}" if code in out else f"{code}: as in {named}"
    return sorted(out.items())


class DecisionForm(Schema):
    class Meta:
        unknown = EXCLUDE

    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    period_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3660))
    quantity = fields.Decimal(load_default=None, validate=checks.quantity)
    reason_code = fields.String(load_default=None, validate=checks.REASON_CODE)
    reason = fields.String(
        load_default=None, validate=[validate.Length(max=2000), checks.said, checks.plain]
    )
    documents = fields.List(
        fields.String(validate=validate.OneOf(sorted(LOINC_NAMES))), load_default=list
    )

    @validates_schema
    def _complete(self, data: dict[str, Any], **_: Any) -> None:
        if data["action"] == "deny" and not (data.get("reason_code") and data.get("reason")):
            raise ValidationError(
                "a denial needs an X12 886 reason code from the list and a reason the "
                "clinician can act on",
                "reason",
            )
        if data["action"] == "request-info" and not data.get("documents"):
            raise ValidationError("choose at least one document to ask for", "documents")
        if (
            data["action"] == "modify"
            and data.get("quantity") is None
            and not data.get("period_days")
        ):
            raise ValidationError(
                "a partial approval gives the quantity or the period it approves", "quantity"
            )


def _sentence(messages: Any) -> str:
    """marshmallow's messages as one sentence: ``field: problem; ...``."""
    if isinstance(messages, Mapping):
        parts = []
        for name, problem in messages.items():
            text = _sentence(problem)
            # A list's messages are keyed by position: the field's name says enough.
            named = name != "_schema" and not isinstance(name, int)
            parts.append(f"{str(name).replace('_', ' ')}: {text}" if named else text)
        return "; ".join(parts)
    if isinstance(messages, list | tuple):
        return "; ".join(_sentence(m) for m in messages)
    return str(messages)


def decision_of(
    form: Mapping[str, Any], documents: list[str], sequence: int, codes: list[str]
) -> ReviewDecision:
    """The decision a form asks for on item ``sequence``; FormError says what is wrong."""
    given = {k: v for k, v in form.items() if k != "csrf" and v != ""}
    if documents:
        given["documents"] = documents
    try:
        data = DecisionForm().load(given)
    except ValidationError as exc:
        raise FormError(f"Item {sequence} was not decided: {_sentence(exc.messages)}.") from None
    if data["reason_code"] and data["reason_code"] not in codes:
        raise FormError(f"Item {sequence} was not decided: choose a reason code from the list.")
    return ReviewDecision(
        sequence=sequence,
        action=data["action"],
        period_days=data["period_days"],
        quantity=data["quantity"],
        reason_code=data["reason_code"],
        reason=data["reason"].strip() if data["reason"] else None,
        documents=tuple(data["documents"]),
    )


class ReopenForm(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.String(
        required=True, validate=[validate.Length(max=2000), checks.said, checks.plain]
    )


def reopen_reason_of(form: Mapping[str, Any], sequence: int) -> str:
    """Why a final item is reopened (kept in the decision trace, not sent to the provider)."""
    try:
        reason = ReopenForm().load({k: v for k, v in form.items() if k != "csrf"})["reason"]
    except ValidationError as exc:
        raise FormError(f"Item {sequence} was not reopened: {_sentence(exc.messages)}.") from None
    return str(reason).strip()


class AssignForm(Schema):
    class Meta:
        unknown = EXCLUDE

    # Empty: nobody (the case goes back to the shared queue).
    username = fields.String(load_default="", validate=validate.Length(max=64))


def assignee_of(form: Mapping[str, Any], enabled: list[str]) -> str | None:
    """The staff username a case is to be assigned to (None: unassigned)."""
    try:
        name = AssignForm().load({k: v for k, v in form.items() if k != "csrf"})["username"]
    except ValidationError as exc:
        raise FormError(f"The case was not reassigned: {_sentence(exc.messages)}.") from None
    if name and name not in enabled:
        raise FormError("The case was not reassigned: choose an enabled staff account.")
    return name or None
