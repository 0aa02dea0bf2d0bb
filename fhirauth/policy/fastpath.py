"""The FHIRPath conditions policies use most, evaluated without fhirpathpy's interpreter and
answered exactly as fhirpathpy answers them, or not at all.

fhirpathpy walks its parse tree node by node on every evaluation, copying its function table
at each call and evaluating a ``where`` criterion twice per element: about 250 µs for
``%item.diagnosis.coding.where(code.startsWith('C71') or code.startsWith('D33')).exists()``
on a two-diagnosis line, most of what deciding a request spends on policy. :func:`compile_fast`
turns fhirpathpy's own parse tree of an expression into Python closures, once, when every
node is in the subset below; otherwise it returns None and fhirpathpy evaluates it always.

The subset: ``%variable``, member navigation, ``where(criterion)``, ``exists()``,
``startsWith('literal')``, ``and``/``or``, string, number and boolean literals, ``{}`` and
parentheses; and ``=``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, ``contains``, ``in`` between
variables, literals and what functions return (fhirpathpy compares those as given; what
navigation yields it wraps in nodes that compare otherwise, so those comparisons are left to
it). The closures compute on the variables' own values and, for the operators, call
fhirpathpy's own implementations with the arguments fhirpathpy would pass.

Whenever the data leaves what the closures model, they raise :class:`Defer` and the caller
evaluates with fhirpathpy instead: an element that is not an object where a member is read, a
primitive's ``_element`` sibling, a value that is not a single string for ``startsWith`` or
not a boolean for ``and``/``or``, a criterion whose first value is not a boolean, anything an
operator raises. Those are the cases where fhirpathpy raises (its message becomes the trace's
``error: ...``) or unwraps values in ways not modelled here; they never go through this path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirpathpy.engine import util
from fhirpathpy.engine.evaluators import (
    boolean_literal,
    identifier,
    number_literal,
    string_literal,
)
from fhirpathpy.engine.invocations import collections, equality, logic
from fhirpathpy.parser import parse

# A compiled node: (the collection it applies to, the variables) -> its collection.
Node = Callable[[list[Any], dict[str, Any]], list[Any]]
Fast = Callable[[dict[str, Any]], bool]


class Defer(Exception):
    """The data is outside what the compiled form answers for: ask fhirpathpy."""


class _Unsupported(Exception):
    pass


# Operators between values fhirpathpy passes as they are; "nullable" ones answer empty when
# either side is empty, as fhirpathpy's registry marks them.
_COMPARISONS: dict[str, tuple[Callable[..., Any], bool]] = {
    "=": (equality.equal, True),
    "!=": (equality.unequal, True),
    "<": (equality.lt, True),
    ">": (equality.gt, True),
    "<=": (equality.lte, True),
    ">=": (equality.gte, True),
    "contains": (collections.contains, False),
    "in": (collections.inn, False),
}
_LOGIC = {"and": logic.and_op, "or": logic.or_op}

_ROOT = [{}]  # fhirpathpy's data root: conditions are evaluated against an empty resource


def compile_fast(expression: str) -> Fast | None:
    """The fast form of ``expression``: variables -> whether it yields exactly ``true``;
    None when the expression is outside the subset."""
    try:
        node, _ = _node(parse(expression)["children"][0])
    except (_Unsupported, LookupError, TypeError):  # a parse tree of a shape not modelled
        return None

    def fast(variables: dict[str, Any]) -> bool:
        return _holds(node(_ROOT, variables))

    return fast


def _holds(result: list[Any]) -> bool:
    """fhirpathpy's outcome: exactly one value, ``true``, once its final pass has dropped
    the objects that hold nothing but an ``extension``."""
    if len(result) > 1:
        result = [v for v in result if not (isinstance(v, dict) and list(v) == ["extension"])]
    return len(result) == 1 and result[0] is True


# What a node's values are: as fhirpathpy passes variables, literals and what functions and
# operators return (PLAIN); what navigation yields, which fhirpathpy wraps in nodes (NAVIGATED);
# or what the node was given (SAME: a where() keeps elements as they came).
PLAIN, NAVIGATED, SAME = "plain", "navigated", "same"


def _name(node: dict[str, Any]) -> str:
    return str(identifier(None, None, node)[0]).replace("`", "")


def _node(node: dict[str, Any]) -> tuple[Node, str]:
    """The compiled node and what its values are."""
    kind = node["type"]
    children = node.get("children") or []
    if kind in ("TermExpression", "ParenthesizedTerm", "InvocationTerm") and len(children) == 1:
        return _node(children[0])
    if kind == "LiteralTerm" and len(children) == 1:
        return _literal(children[0]), PLAIN
    if kind == "ExternalConstantTerm":
        return _variable(_name(children[0]["children"][0])), PLAIN
    if kind == "MemberInvocation":
        return _member(_name(children[0])), NAVIGATED
    if kind == "FunctionInvocation":
        return _function(children[0])
    if kind == "InvocationExpression" and len(children) == 2:
        (first, given), (then, made) = _node(children[0]), _node(children[1])
        return _chain(first, then), given if made == SAME else made
    if kind in ("AndExpression", "OrExpression") and len(children) == 2:
        op = node["terminalNodeText"][0]
        if op not in _LOGIC:
            raise _Unsupported
        return _logic(_LOGIC[op], _node(children[0])[0], _node(children[1])[0]), PLAIN
    if kind in ("EqualityExpression", "InequalityExpression", "MembershipExpression"):
        op = node["terminalNodeText"][0]
        if op not in _COMPARISONS or len(children) != 2:
            raise _Unsupported
        (left, left_kind), (right, right_kind) = _node(children[0]), _node(children[1])
        if left_kind != PLAIN or right_kind != PLAIN:
            raise _Unsupported
        fn, nullable = _COMPARISONS[op]
        return _compare(fn, nullable, left, right), PLAIN
    raise _Unsupported


def _literal(node: dict[str, Any]) -> Node:
    kind = node["type"]
    if kind == "StringLiteral":
        return _constant(string_literal(None, None, node))
    if kind == "NumberLiteral":
        return _constant(number_literal(None, None, node))
    if kind == "BooleanLiteral":
        return _constant(boolean_literal(None, None, node))
    if kind == "NullLiteral":
        return _constant([])
    raise _Unsupported


def _constant(value: list[Any]) -> Node:
    def constant(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        return list(value)  # a fresh collection per evaluation, as fhirpathpy makes

    return constant


def _variable(name: str) -> Node:
    def variable(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        if name not in variables:
            raise Defer  # fhirpathpy's %context and %ucum, or an undefined variable
        value = variables[name]
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return variable


def _member(key: str) -> Node:
    if util.is_capitalized(key):
        raise _Unsupported  # fhirpathpy filters by resourceType for these
    shadow = "_" + key

    def member(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for element in data:
            if not isinstance(element, dict) or shadow in element:
                raise Defer
            value = element.get(key)
            if isinstance(value, list):
                for v in value:
                    if v is None or isinstance(v, list):
                        raise Defer
                out += value
            elif value is not None:
                out.append(value)
        return out

    return member


def _chain(first: Node, then: Node) -> Node:
    def chain(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        return then(first(data, variables), variables)

    return chain


def _function(functn: dict[str, Any]) -> tuple[Node, str]:
    children = functn.get("children") or []
    name = identifier(None, None, children[0])[0]  # as fhirpathpy looks a function up
    params = (children[1].get("children") or []) if len(children) > 1 else []
    if name == "exists" and not params:
        return _exists, PLAIN
    if name == "where" and len(params) == 1:
        criterion, made = _node(params[0])
        if made != PLAIN:
            raise _Unsupported  # fhirpathpy tests a navigated value's node, not the value
        return _where(criterion), SAME
    if name == "startsWith" and len(params) == 1:
        return _starts_with(_string_param(params[0])), PLAIN
    raise _Unsupported


def _string_param(node: dict[str, Any]) -> str:
    """A string literal argument, as fhirpathpy reads it."""
    while node["type"] in ("TermExpression", "LiteralTerm") and len(node["children"]) == 1:
        node = node["children"][0]
    if node["type"] != "StringLiteral":
        raise _Unsupported
    return str(string_literal(None, None, node)[0])


def _exists(data: list[Any], variables: dict[str, Any]) -> list[Any]:
    return [len(data) > 0]


def _where(criterion: Node) -> Node:
    def where(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        kept = []
        for element in data:
            if element is None or isinstance(element, list):
                raise Defer
            result = criterion([element], variables)
            if result:
                first = result[0]
                if first is not True and first is not False:
                    raise Defer
                if first:
                    kept.append(element)
        return kept

    return where


def _starts_with(prefix: str) -> Node:
    def starts_with(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        if not data:
            return []
        if len(data) != 1 or not isinstance(data[0], str):
            raise Defer
        value: str = data[0]
        return [bool(value) and value.startswith(prefix)]

    return starts_with


def _boolean(result: list[Any]) -> bool | list[Any]:
    """An ``and``/``or`` operand as fhirpathpy checks it: empty, or one boolean."""
    if not result:
        return []
    if len(result) > 1 or (result[0] is not True and result[0] is not False):
        raise Defer
    return bool(result[0])


def _logic(op: Callable[..., Any], left: Node, right: Node) -> Node:
    def combine(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        # Both sides, always, as fhirpathpy evaluates them (a failing right side fails it).
        a, b = _boolean(left(data, variables)), _boolean(right(data, variables))
        return util.arraify(op(None, a, b))

    return combine


def _compare(fn: Callable[..., Any], nullable: bool, left: Node, right: Node) -> Node:
    def compare(data: list[Any], variables: dict[str, Any]) -> list[Any]:
        a, b = left(data, variables), right(data, variables)
        if nullable and (not a or not b):
            return []
        try:
            return util.arraify(fn(None, a, b))
        except Exception:  # fhirpathpy raises bare Exception: let it say why
            raise Defer from None

    return compare
