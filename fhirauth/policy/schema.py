"""marshmallow schemas for policy files: what an analyst may write, checked on load."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from fhirauth.policy.duration import Duration, parse_duration

_CODE = re.compile(r"^[A-Za-z0-9.]+((-[A-Za-z0-9.]+)+|\*)?$")
_ID = validate.Regexp(r"^[a-z0-9][a-z0-9-]*$", error="ids are lower-case letters, digits and -")
RULE_OUTCOMES = ("no-auth", "auth-required", "not-covered")


class Conditions(fields.Field):
    """``when``: one FHIRPath expression or a list of them, all of which must hold."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) and i.strip() for i in items)
        ):
            raise ValidationError("a FHIRPath expression or a list of them")
        return [i.strip() for i in items]


class DurationField(fields.Field):
    """``valid_for``: how long an authorization may run, ``90d``, ``12w``, ``6mo`` or ``1y``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Duration:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class IdentifierSchema(Schema):
    system = fields.String(required=True)
    value = fields.String(required=True)


class PlanSchema(Schema):
    """A Coverage.class the policy applies to (class.value; type optional, e.g. 'plan')."""

    type = fields.String(load_default=None)
    value = fields.String(required=True)


class EffectiveSchema(Schema):
    start = fields.Date(load_default=None)
    end = fields.Date(load_default=None)


class CodeMatchSchema(Schema):
    system = fields.String(required=True)
    codes = fields.List(
        fields.String(
            validate=validate.Regexp(
                _CODE, error="{input!r} is not a code, a range 'A-B' or a prefix 'A*'"
            )
        ),
        required=True,
        validate=validate.Length(min=1),
    )


class DocumentationSchema(Schema):
    """One piece of documentation the payer needs: a LOINC attachment code or a
    Questionnaire (DTR) that a QuestionnaireResponse in supportingInfo must answer."""

    code = fields.String(load_default=None)
    questionnaire = fields.String(load_default=None)
    description = fields.String(required=True)

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("code")) == bool(data.get("questionnaire")):
            raise ValidationError("give either code (LOINC) or questionnaire (a canonical)")


class ApproveSchema(Schema):
    when = Conditions(required=True)
    period_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3660))


class DenySchema(Schema):
    when = Conditions(required=True)
    reason_code = fields.String(required=True)
    reason = fields.String(required=True)
    administrative = fields.Boolean(load_default=False)


class LimitSchema(Schema):
    quantity = fields.Decimal(load_default=None, validate=validate.Range(min=0))
    days = fields.Integer(load_default=None, validate=validate.Range(min=1))
    action = fields.String(load_default="modify", validate=validate.OneOf(("modify", "partial")))
    reason_code = fields.String(load_default=None)
    reason = fields.String(required=True)
    administrative = fields.Boolean(load_default=False)

    @validates_schema
    def _something_limited(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("quantity") is None and data.get("days") is None:
            raise ValidationError("a limit needs quantity, days or both")


class RuleSchema(Schema):
    id = fields.String(required=True, validate=_ID)
    description = fields.String(load_default="")
    priority = fields.Integer(load_default=0)
    match = fields.List(
        fields.Nested(CodeMatchSchema), required=True, validate=validate.Length(min=1)
    )
    modifiers = fields.List(fields.String(), load_default=list)
    place_of_service = fields.List(fields.String(), load_default=list)
    when = Conditions(load_default=list)
    outcome = fields.String(required=True, validate=validate.OneOf(RULE_OUTCOMES))
    documentation = fields.List(fields.Nested(DocumentationSchema), load_default=list)
    authorization_url = fields.Url(load_default=None)
    approve = fields.Nested(ApproveSchema, load_default=None)
    deny = fields.Nested(DenySchema, load_default=None)
    limit = fields.Nested(LimitSchema, load_default=None)
    reason_code = fields.String(load_default=None)
    reason = fields.String(load_default=None)
    # The bounds of what one authorization under this rule may hold, extensions included.
    valid_for = DurationField(load_default=None)
    max_units = fields.Decimal(
        load_default=None, validate=validate.Range(min=0, min_inclusive=False)
    )

    @validates_schema
    def _outcome_fits(self, data: dict[str, Any], **_: Any) -> None:
        if data["outcome"] == "not-covered" and not (
            data.get("reason_code") and data.get("reason")
        ):
            # CMS-0057-F: every denial carries a specific reason.
            raise ValidationError(
                "a not-covered rule needs reason_code (X12 886) and reason", "reason"
            )
        if data["outcome"] != "auth-required":
            extra = [
                k
                for k in ("documentation", "approve", "deny", "limit", "valid_for", "max_units")
                if data.get(k)
            ]
            if extra:
                raise ValidationError(f"only auth-required rules take {', '.join(extra)}", extra[0])


class PolicySchema(Schema):
    id = fields.String(required=True, validate=_ID)
    name = fields.String(required=True)
    default = fields.Boolean(load_default=False)
    insurers = fields.List(fields.Nested(IdentifierSchema), load_default=list)
    plans = fields.List(fields.Nested(PlanSchema), load_default=list)
    effective = fields.Nested(EffectiveSchema, load_default=None)
    unlisted = fields.String(
        load_default="no-auth", validate=validate.OneOf(("no-auth", "auth-required"))
    )
    approval_period_days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3660))
    # 42 CFR 422.566(d), 438.210(b)(3): denials and reductions for medical necessity need a
    # qualified human reviewer. 'automatic' is for commercial lines and sandboxes.
    adverse_decisions = fields.String(
        load_default="review", validate=validate.OneOf(("review", "automatic"))
    )
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)

    @pre_load
    def _mapping(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            raise ValidationError("a policy file holds one mapping (id, name, rules, …)")
        return data
