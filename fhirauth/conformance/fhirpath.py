"""Invariants as checks: a few well-known ones natively, the rest compiled once with fhirpathpy.

fhirpathpy cannot evaluate everything a StructureDefinition may say (``conformsTo``,
``memberOf``, ``resolve``, ``htmlChecks``, ``hasValue``…). Those are found at load by walking
the parsed expression, and the invariant is marked skipped with the reason, so the loader can
record it once instead of every instance failing.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.engine import base_invocation_registry
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

from fhirauth.conformance.model import Check, Invariant
from fhirauth.policy.conditions import ConditionError, _check_syntax

R4 = models["r4"]
FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Functions fhirpathpy has but whose results differ from the spec where constraints use them:
# trace() prints, descendants().as() raises on collections (dom-3).
_DISTRUSTED = frozenset({"trace", "descendants"})


class InvariantError(ValueError):
    """An invariant in one of our own files that is not valid FHIRPath."""


def full_date(value: Any, _env: dict[str, Any] | None = None) -> bool:
    """FullDateRule: a date, or a Period's start and end, written as YYYY-MM-DD."""
    if isinstance(value, str):
        return bool(FULL_DATE.match(value))
    if isinstance(value, dict):
        return all(
            isinstance(value.get(k), str) and FULL_DATE.match(value[k])
            for k in ("start", "end")
            if k in value
        )
    return True


def _ele_1(value: Any, _env: dict[str, Any]) -> bool:
    if isinstance(value, dict):
        return any(k != "id" for k in value)
    return value is not None and value != ""


def _ext_1(value: Any, _env: dict[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    has_value = any(k.startswith("value") for k in value)
    return bool(value.get("extension")) != has_value


# Expressions recognised by their text and checked in Python: they sit on hundreds of
# elements (ele-1, ext-1) or on every date (FullDateRule), and fhirpathpy lacks hasValue().
NATIVE: dict[str, Check] = {
    "$this.toString().length() = 10": full_date,
    "hasValue() or (children().count() > id.count())": _ele_1,
    "hasValue() or (children().count() > id.count()) or $this is Parameters": _ele_1,
    "extension.exists() != value.exists()": _ext_1,
}


def _functions(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "Functn":
            ident = node["children"][0]
            out.add(ident.get("text") or "".join(ident.get("terminalNodeText", [])))
        for child in node.get("children", []):
            out |= _functions(child)
    return out


def unsupported(expression: str) -> str | None:
    """Why fhirpathpy cannot be trusted with this expression, or None."""
    names = _functions(parse(expression))
    missing = sorted(n for n in names if n not in base_invocation_registry)
    if missing:
        return f"uses {', '.join(n + '()' for n in missing)}, which fhirpathpy does not implement"
    distrusted = sorted(names & _DISTRUSTED)
    if distrusted:
        return f"uses {', '.join(n + '()' for n in distrusted)}, which fhirpathpy evaluates badly"
    return None


@cache
def _compiled(expression: str) -> Any:
    return fhirpathpy.compile(expression, R4)


def _fhirpath_check(expression: str) -> Check:
    fn = _compiled(expression)

    def check(value: Any, env: dict[str, Any]) -> bool | None:
        node = value
        type_path = env.get("type_path")
        if type_path and isinstance(value, dict) and "resourceType" not in value:
            node = ResourceNode.create_node(value, type_path)
        try:
            result = fn(node, env)
        except Exception:  # fhirpathpy raises bare Exception for evaluation errors
            return None
        if not result:
            return True  # an empty result does not contradict the constraint
        return result == [True]

    return check


def compile_invariant(
    key: str, severity: str, human: str, expression: str | None, *, strict: bool
) -> Invariant:
    """Build an invariant. ``strict`` (our own files): anything unusable is an error;
    otherwise (packages) it becomes a skipped invariant that says why."""
    inv = Invariant(key, severity, human, expression)
    if not expression:
        inv.skipped = "has no FHIRPath expression"
    elif expression in NATIVE:
        inv.check = NATIVE[expression]
        return inv
    else:
        try:
            _check_syntax(expression)
            reason = unsupported(expression)
        except ConditionError as exc:
            reason = f"is not valid FHIRPath ({exc})"
        if reason is None:
            inv.check = _fhirpath_check(expression)
            return inv
        inv.skipped = reason
    if strict:
        raise InvariantError(f"invariant {key}: {inv.skipped}")
    return inv
