"""marshmallow schemas for policy files: what an analyst may write, checked on load."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

OUTCOMES = ("approve", "deny", "pend", "no-auth")
_CODE = re.compile(r"^[A-Za-z0-9.]+(-[A-Za-z0-9.]+|\*)?$")


class IdentifierSchema(Schema):
    system = fields.String(required=True)
    value = fields.String(required=True)


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


class RuleSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$"))
    description = fields.String(load_default="")
    match = fields.List(
        fields.Nested(CodeMatchSchema), required=True, validate=validate.Length(min=1)
    )
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    priority = fields.Integer(load_default=0)
    period_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3660))
    reason_code = fields.String(load_default=None)
    reason = fields.String(load_default=None)

    @validates_schema
    def _denials_explain_themselves(self, data: dict, **_: object) -> None:
        # CMS-0057-F: every denial carries a specific reason.
        if data["outcome"] == "deny" and not (data.get("reason_code") and data.get("reason")):
            raise ValidationError(
                "a rule that denies needs reason_code (X12 886) and reason", "reason"
            )


class PolicySchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$"))
    name = fields.String(required=True)
    default = fields.Boolean(load_default=False)
    insurers = fields.List(fields.Nested(IdentifierSchema), load_default=list)
    unlisted = fields.String(load_default="no-auth", validate=validate.OneOf(("no-auth", "pend")))
    approval_period_days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3660))
    rules = fields.List(fields.Nested(RuleSchema), load_default=list)
