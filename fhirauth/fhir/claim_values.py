"""Values a request's Claim may not hold even though they fit the R4 model.

A quantity of services below zero asks for nothing a payer can authorize, a Claim whose
``related.claim`` is the Claim itself makes an update of nothing, and an identifier or item code
longer than any real one cannot be filed. All are 400s with the
FHIRPath of the value (README, Errors); the JSON types themselves are ``json_rules``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from fhirauth.errors import Issue


def _dicts(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, each in enumerate(value if isinstance(value, list) else []):
        if isinstance(each, dict):
            yield i, each


def negative_quantities(items: Any, path: str) -> list[Issue]:
    """``item.quantity.value`` below zero, in items and their details and sub-details."""
    issues = []
    for i, item in _dicts(items):
        where = f"{path}[{i}]"
        quantity = item.get("quantity")
        value = quantity.get("value") if isinstance(quantity, dict) else None
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value < 0:
            issues.append(
                Issue(
                    "value",
                    f"a quantity of services cannot be negative ({value})",
                    (f"{where}.quantity.value",),
                )
            )
        for child in ("detail", "subDetail"):
            issues += negative_quantities(item.get(child), f"{where}.{child}")
    return issues


def related_to_itself(
    claim: dict[str, Any], path: str, is_self: Callable[[str], bool]
) -> list[Issue]:
    """``Claim.related.claim`` referring to the Claim itself (``is_self`` resolves the reference
    in the Bundle). An identifier equal to the Claim's own is not self-reference: PAS 2.0.1
    updates keep the original request's TRN and name the original by it."""
    issues = []
    for i, related in _dicts(claim.get("related")):
        target = related.get("claim")
        reference = target.get("reference") if isinstance(target, dict) else None
        if isinstance(reference, str) and is_self(reference):
            issues.append(
                Issue(
                    "invalid",
                    "Claim.related.claim refers to this Claim itself; an update names the "
                    "Claim it replaces",
                    (f"{path}.related[{i}].claim.reference",),
                )
            )
    return issues


# The longest value each key a request is filed and found under may have (store/models.py
# columns, which hold an identifier as "system|value" in 512), with room beyond X12's own
# maxima (TRN02 50, NM109 80, SV101-2 48 characters).
KEY_LENGTHS = {"identifier": 256, "member": 128, "code": 64, "system": 255}


def overlong_codes(claim: dict[str, Any], path: str) -> list[Issue]:
    """Item codes longer than a payer files them under."""
    issues = []
    for i, item in _dicts(claim.get("item")):
        concept = item.get("productOrService")
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for j, coding in _dicts(codings):
            where = f"{path}.item[{i}].productOrService.coding[{j}]"
            issues += _too_long(coding.get("code"), f"{where}.code", "code")
            issues += _too_long(coding.get("system"), f"{where}.system", "system")
    return issues


def overlong_identifiers(resource: dict[str, Any], path: str) -> list[Issue]:
    """Identifier values longer than a payer files requests under: the member's (Patient and
    Coverage identifiers, ``subscriberId``) and the providers'."""
    key = "member" if resource.get("resourceType") in ("Patient", "Coverage") else "identifier"
    issues = _too_long(resource.get("subscriberId"), f"{path}.subscriberId", key)
    idents = resource.get("identifier")
    for i, ident in _dicts(idents if isinstance(idents, list) else [idents]):
        where = f"{path}.identifier" + (f"[{i}]" if isinstance(idents, list) else "")
        issues += _too_long(ident.get("value"), f"{where}.value", key)
        issues += _too_long(ident.get("system"), f"{where}.system", "system")
    return issues


def _too_long(value: Any, where: str, key: str) -> list[Issue]:
    limit = KEY_LENGTHS[key]
    if isinstance(value, str) and len(value) > limit:
        return [Issue("value", f"longer than {limit} characters ({len(value)})", (where,))]
    return []
