"""marshmallow schemas for our profile files (profiles/pas/*.yaml), checked on load.

A profile file::

    url: http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-claimresponse
    name: PASClaimResponse
    type: ClaimResponse
    base: …/profile-claimresponse-base        # optional, one of ours: inherited
    elements:                                  # keyed by element id
      ClaimResponse.request: {min: 1, targets: [Claim]}
      ClaimResponse.item.adjudication.category: {pattern: {coding: [...]}}
    extensions:                                # extension slices, keyed by the host element
      ClaimResponse.item: [{url: …/extension-itemTraceNumber, max: "*"}]
    invariants:
      - {key: …, severity: error, human: …, expression: …, path: ClaimResponse.item}

The extension catalogue (extensions.yaml) holds ``extensionDefinitions:``, one entry per
extension url with its value type, binding and nested sub-extensions.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

SLICE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_ELEMENT_ID = re.compile(
    r"^[A-Z][A-Za-z]*(\.[a-z][A-Za-z0-9]*(\[x\])?(:[A-Za-z][A-Za-z0-9_-]*)?)*$"
)
STRENGTHS = ("required", "extensible", "preferred", "example")


class Max(fields.Field):
    """``max``: a non-negative integer or ``"*"`` (unbounded)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if value == "*":
            return "*"
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValidationError('a whole number >= 0 or "*"')


class StringList(fields.Field):
    """One string or a list of them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ValidationError("a string or a list of strings")
        return list(items)


class CodeSchema(Schema):
    system = fields.String(load_default=None)
    code = fields.String(required=True)


class Codes(fields.Field):
    """Codes of a binding: plain codes (of the binding's ``system``) or {system, code}."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not value:
            raise ValidationError("a non-empty list of codes")
        out = []
        for item in value:
            if isinstance(item, str) and item:
                out.append({"system": None, "code": item})
            elif isinstance(item, dict):
                out.append(CodeSchema().load(item))
            else:
                raise ValidationError(f"{item!r} is not a code or a {{system, code}} pair")
        return out


class BindingSchema(Schema):
    strength = fields.String(required=True, validate=validate.OneOf(STRENGTHS))
    valueSet = fields.String(load_default=None)
    system = fields.String(load_default=None)
    codes = Codes(load_default=None)
    systems = StringList(load_default=None)
    note = fields.String(load_default=None)

    @validates_schema
    def _checkable(self, data: dict[str, Any], **_: Any) -> None:
        if data["strength"] == "required" and not (
            data.get("codes") or data.get("systems") or data.get("note")
        ):
            raise ValidationError(
                "a required binding lists its codes or systems, or has a note saying why it "
                "cannot be checked"
            )


class TypeSchema(Schema):
    code = fields.String(required=True)
    profile = StringList(load_default=list)
    targets = StringList(load_default=list)


class TypeField(fields.Field):
    """A type: its code alone, or {code, profile, targets}."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value:
            return {"code": value, "profile": [], "targets": []}
        if isinstance(value, dict):
            return TypeSchema().load(value)
        raise ValidationError("a type code or {code, profile, targets}")


class DiscriminatorSchema(Schema):
    type = fields.String(
        required=True, validate=validate.OneOf(("value", "pattern", "type", "exists"))
    )
    path = fields.String(required=True)


class SlicingSchema(Schema):
    discriminator = fields.List(
        fields.Nested(DiscriminatorSchema), required=True, validate=validate.Length(min=1)
    )
    rules = fields.String(
        load_default="open", validate=validate.OneOf(("open", "closed", "openAtEnd"))
    )
    ordered = fields.Boolean(load_default=False)


class _Constrained(Schema):
    """What an element and an extension have in common."""

    min = fields.Integer(load_default=None, validate=validate.Range(min=0))
    max = Max(load_default=missing)
    profile = StringList(load_default=None)
    targets = StringList(load_default=None)
    fixed = fields.Raw(load_default=None, allow_none=True)
    pattern = fields.Raw(load_default=None, allow_none=True)
    binding = fields.Nested(BindingSchema, load_default=None)
    mustSupport = fields.Boolean(load_default=False)
    fullDate = fields.Boolean(load_default=False)
    short = fields.String(load_default=None)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("fixed") is not None and data.get("pattern") is not None:
            raise ValidationError("give fixed or pattern, not both")
        lo, hi = data.get("min"), data.get("max", missing)
        if lo is not None and isinstance(hi, int) and not isinstance(hi, bool) and hi < lo:
            raise ValidationError(f"max {hi} is below min {lo}")


class ElementSchema(_Constrained):
    types = fields.List(TypeField(), load_default=None)
    slicing = fields.Nested(SlicingSchema, load_default=None)


class ExtensionSchema(_Constrained):
    url = fields.String(required=True)
    name = fields.String(
        load_default=None,
        validate=validate.Regexp(SLICE_NAME, error="a name of letters, digits, _ and -"),
    )
    modifier = fields.Boolean(load_default=False)
    value = StringList(load_default=None)
    extensions = fields.List(fields.Nested(lambda: ExtensionSchema()), load_default=list)

    @validates_schema
    def _value_or_nested(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("value") and data.get("extensions"):
            raise ValidationError("an extension has a value or sub-extensions, not both")


class InvariantSchema(Schema):
    key = fields.String(required=True)
    severity = fields.String(load_default="error", validate=validate.OneOf(("error", "warning")))
    human = fields.String(required=True)
    expression = fields.String(required=True)
    path = fields.String(load_default=None)


class ProfileSchema(Schema):
    url = fields.Url(required=True, schemes={"http", "https"})
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][A-Za-z]+$"))
    base = fields.String(load_default=None)
    abstract = fields.Boolean(load_default=False)
    description = fields.String(load_default=None)
    elements = fields.Dict(
        keys=fields.String(validate=validate.Regexp(_ELEMENT_ID, error="not an element id")),
        values=fields.Nested(ElementSchema),
        load_default=dict,
    )
    extensions = fields.Dict(
        keys=fields.String(validate=validate.Regexp(_ELEMENT_ID, error="not an element id")),
        values=fields.List(fields.Nested(ExtensionSchema)),
        load_default=dict,
    )
    invariants = fields.List(fields.Nested(InvariantSchema), load_default=list)

    @validates_schema
    def _paths_of_type(self, data: dict[str, Any], **_: Any) -> None:
        root = data.get("type", "")
        paths = [
            *data.get("elements", {}),
            *data.get("extensions", {}),
            *(i["path"] for i in data.get("invariants", []) if i.get("path")),
        ]
        wrong = [p for p in paths if p != root and not p.startswith(root + ".")]
        if wrong:
            raise ValidationError(f"paths must start with {root}: {', '.join(wrong)}")


class CatalogueSchema(Schema):
    extensionDefinitions = fields.List(
        fields.Nested(ExtensionSchema), required=True, validate=validate.Length(min=1)
    )
