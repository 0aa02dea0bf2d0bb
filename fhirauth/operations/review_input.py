"""What a reviewer may send, whether through the admin API (JSON) or the console (a form):
the checks both apply to a decision's fields, in one place."""

from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import ValidationError, validate

MAX_QUANTITY = Decimal(1_000_000_000)
_MICRO = Decimal("0.000001")
# Words a person types: no control characters but tab and line breaks (PostgreSQL refuses a
# NUL in text, and none belongs in a reason a clinician reads).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# X12 886 codes are short; the column holds 16 characters.
REASON_CODE = validate.Regexp(r"[A-Za-z0-9]{1,16}\Z")


def quantity(value: Decimal) -> None:
    """An authorized quantity the ClaimResponse can say: a number from 0 below a billion with
    at most six decimals (``"1e400"`` is a finite Decimal, but no FHIR decimal or integer)."""
    if not (value.is_finite() and 0 <= value < MAX_QUANTITY and value == value.quantize(_MICRO)):
        raise ValidationError("must be a number from 0 to 999999999 with at most 6 decimals")


def said(value: str) -> None:
    if not value.strip():
        raise ValidationError("say why, in words")


def plain(value: str) -> None:
    if _CONTROL.search(value):
        raise ValidationError("control characters are not allowed (tab and line breaks are)")
