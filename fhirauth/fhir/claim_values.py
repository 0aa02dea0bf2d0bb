"""Values a request's Claim may not hold even though they fit the R4 model.

A quantity of services below zero asks for nothing a payer can authorize, and a Claim whose
``related.claim`` is the Claim itself makes an update of nothing. Both are 400s with the
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
    """``Claim.related.claim`` naming the Claim itself, by reference (``is_self`` resolves it
    in the Bundle) or by one of the Claim's own identifiers."""
    own = {
        (i.get("system"), i.get("value"))
        for _, i in _dicts(claim.get("identifier"))
        if i.get("value") is not None
    }
    issues = []
    for i, related in _dicts(claim.get("related")):
        target = related.get("claim")
        if not isinstance(target, dict):
            continue
        where = f"{path}.related[{i}].claim"
        reference = target.get("reference")
        identifier = target.get("identifier")
        if isinstance(reference, str) and is_self(reference):
            issues.append(
                Issue(
                    "invalid",
                    "Claim.related.claim refers to this Claim itself; an update names the "
                    "Claim it replaces",
                    (f"{where}.reference",),
                )
            )
        elif isinstance(identifier, dict) and (
            (identifier.get("system"), identifier.get("value")) in own
        ):
            issues.append(
                Issue(
                    "invalid",
                    "Claim.related.claim names this Claim's own identifier; an update names the "
                    "Claim it replaces",
                    (f"{where}.identifier",),
                )
            )
    return issues
