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

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine import base_invocation_registry
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.engine.util import set_paths
from fhirpathpy.models import models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhirauth.conformance.compiled import compile_native
from fhirauth.conformance.fhirpath_ops import Fallback
from fhirauth.conformance.model import Check, Invariant

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


class _Raise(ErrorListener):  # type: ignore[misc]
    def syntaxError(
        self, recognizer: Any, symbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise InvariantError(f"column {column + 1}: {msg}")


def parse_strict(expression: str) -> dict[str, Any]:
    """fhirpathpy's AST of the whole text; a syntax error raises instead of being skipped
    (the policy engine checks its conditions the same way)."""
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    listener = ASTPathListener()
    ParseTreeWalker().walk(listener, parser.entireExpression())
    root: dict[str, Any] = listener.parentStack[0]
    entire = root["children"][0]  # EntireExpression: the expression, then <EOF>
    return {"children": entire["children"]}


def _functions(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "Functn":
            ident = node["children"][0]
            out.add(ident.get("text") or "".join(ident.get("terminalNodeText", [])))
        for child in node.get("children", []):
            out |= _functions(child)
    return out


def unsupported(ast: dict[str, Any]) -> str | None:
    """Why fhirpathpy cannot be trusted with this parsed expression, or None."""
    names = _functions(ast)
    missing = sorted(n for n in names if n not in base_invocation_registry)
    if missing:
        return f"uses {', '.join(n + '()' for n in missing)}, which fhirpathpy does not implement"
    distrusted = sorted(names & _DISTRUSTED)
    if distrusted:
        return f"uses {', '.join(n + '()' for n in distrusted)}, which fhirpathpy evaluates badly"
    return None


def _fhirpath_check(ast: dict[str, Any]) -> Check:
    fn = set_paths(apply_parsed_path, parsedPath=ast, model=R4)
    # fhirpathpy interprets the tree per call (~50-1500 µs); the closures give its result in a
    # few µs, and hand back to it what they do not mirror
    native = compile_native(ast)

    def check(value: Any, env: dict[str, Any]) -> bool | None:
        if native is not None:
            try:
                return native(value, env)
            except Fallback:
                pass
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


@cache
def _prepare(expression: str) -> tuple[Check | None, str | None]:
    """(check, None) or (None, why not): once per distinct expression text."""
    if expression in NATIVE:
        return NATIVE[expression], None
    try:
        ast = parse_strict(expression)
    except InvariantError as exc:
        return None, f"is not valid FHIRPath ({exc})"
    reason = unsupported(ast)
    if reason is not None:
        return None, reason
    return _fhirpath_check(ast), None


def compile_invariant(
    key: str, severity: str, human: str, expression: str | None, *, strict: bool
) -> Invariant:
    """Build an invariant. ``strict`` (our own files): anything unusable is an error;
    otherwise (packages) it becomes a skipped invariant that says why."""
    check, skipped = _prepare(expression) if expression else (None, "has no FHIRPath expression")
    if skipped and strict:
        raise InvariantError(f"invariant {key}: {skipped}")
    return Invariant(key, severity, human, expression, check, skipped)
