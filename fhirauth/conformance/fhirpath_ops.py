"""FHIRPath values and operators as fhirpathpy evaluates them, for :mod:`.compiled`.

A collection is a list of items: a node ``(json, type path)`` where fhirpathpy has a
ResourceNode, else the bare value (literals, computed results, the root resource). Each
operator here returns what fhirpathpy's returns for the same operands, or raises
:class:`Fallback` where fhirpathpy would raise or take a path not mirrored here (dates,
Quantities, a ``_companion``): the caller then evaluates the expression with fhirpathpy.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhirpathpy.engine.invocations.types import is_fn
from fhirpathpy.engine.nodes import ResourceNode, TypeInfo
from fhirpathpy.models import models

R4 = models["r4"]
_PATH2TYPE: dict[str, str] = R4["path2Type"]
_TYPE2PARENT: dict[str, str] = R4["type2Parent"]

Items = list[Any]
Op = Callable[[Items, Items], Items]


class Fallback(Exception):
    """This instance leaves the mirrored subset: evaluate the expression with fhirpathpy."""


# -- items ---------------------------------------------------------------------------------------


def data(item: Any) -> Any:
    return item[0] if type(item) is tuple else item


def plain(item: Any) -> Any:
    """fhirpathpy's get_data: a node's JSON, a float as Decimal."""
    d = item[0] if type(item) is tuple else item
    return Decimal(str(d)) if isinstance(d, float) else d


def node(value: Any, path: str | None) -> tuple[Any, str | None]:
    """ResourceNode.create_node(value, path): a resource keeps its own type."""
    if isinstance(value, dict):
        if "resourceType" in value:
            rtype = value["resourceType"]
            if not isinstance(rtype, str):
                raise Fallback  # fhirpathpy's type path would not be a string
            return value, rtype
    elif value is None or isinstance(value, list):
        raise Fallback  # a null or nested array in the JSON: fhirpathpy's handling is odd
    return value, path


def is_number(d: Any) -> bool:
    return isinstance(d, int | Decimal) and not isinstance(d, bool)


def _uniq(values: list[Any]) -> list[Any]:
    """fhirpathpy's util.uniq: by JSON text, the first position, the last value."""
    out: dict[str, Any] = {}
    for x in values:
        try:
            key = json.dumps(x, sort_keys=True)
        except TypeError:
            key = str(x)
        out[key] = x
    return list(out.values())


def distinct(items: Items) -> Items:
    """fhirpathpy's distinct_fn: nodes by their JSON (rebuilt without their path), values by
    their JSON text."""
    if all(type(x) is tuple for x in items):
        return [node(d, None) for d in _uniq([x[0] for x in items])]
    if any(type(x) is tuple for x in items):
        raise Fallback  # there a node's text is its object id
    return _uniq(items)


def is_type(coll: Items, spec: Any) -> Items:
    """fhirpathpy's is_fn (``x is T``, ``x.is(T)``)."""
    if not coll:
        return []
    if len(coll) > 1:
        raise Fallback
    item = coll[0]
    if type(item) is tuple and isinstance(item[1], str) and not item[1].startswith("System."):
        # TypeInfo.is_ for a node of a FHIR type, as fhirpathpy's is_fn runs it (a dotted
        # path is a BackboneElement there once the model is set, which is_fn does first)
        TypeInfo.model = R4
        if spec.namespace and spec.namespace != TypeInfo.FHIR:
            return [False]
        name = item[1] if "." not in item[1] else "BackboneElement"
        while name:
            if name == spec.name:
                return [True]
            name = _TYPE2PARENT.get(name) or _PATH2TYPE.get(name)
        return [False]
    value = ResourceNode(item[0], item[1]) if type(item) is tuple else item
    try:
        result = is_fn({"model": R4}, [value], spec)  # fhirpathpy's own, for the rest
    except Exception:  # fhirpathpy raises bare Exception; there the invariant is not evaluated
        raise Fallback from None
    return [result] if isinstance(result, bool) else []


# -- operands, as fhirpathpy's make_param converts them ------------------------------------------


def boolean(res: Items) -> bool | Items:
    """An operand of and/or/xor/implies: [] stays empty, one boolean is the value."""
    if not res:
        return []
    if len(res) > 1:
        raise Fallback
    d = plain(res[0])
    if d is True or d is False:
        return d
    raise Fallback


def _string(res: Items) -> str | Items:
    if not res:
        return []
    if len(res) > 1:
        raise Fallback
    d = plain(res[0])
    if not isinstance(d, str):
        raise Fallback
    return d


def _number(res: Items) -> Any:
    if not res:
        return []
    if len(res) > 1:
        raise Fallback
    d = plain(res[0])
    if not isinstance(d, numbers.Number):  # a boolean is one there
        raise Fallback
    return d


def _arithmetic_operand(res: Items) -> Any:
    """One operand of + and -: a string or a number (val_data_converted, then get_data)."""
    if len(res) != 1:
        raise Fallback
    item = res[0]
    if type(item) is tuple and (
        isinstance(item[0], dict) or item[1] in ("date", "dateTime", "time")
    ):
        raise Fallback  # fhirpathpy converts these to Quantities and dates first
    d = plain(item)
    if isinstance(d, str) or is_number(d):
        return d
    raise Fallback


# -- operators ---------------------------------------------------------------------------------


_QUANTITY = frozenset({"Quantity", "System.Quantity"})


def _equal(a: Items, b: Items) -> bool:
    if len(a) != len(b):
        return False
    x, y = a[0], b[0]
    if type(x) is tuple:
        if x[1] in _QUANTITY:
            raise Fallback  # fhirpathpy compares Quantities as FP_Quantity
        x = x[0]
    if type(y) is tuple:
        if y[1] in _QUANTITY:
            raise Fallback
        y = y[0]
    return bool(x == y)


def _eq(a: Items, b: Items) -> Items:
    return [] if not a or not b else [_equal(a, b)]


def _ne(a: Items, b: Items) -> Items:
    return [] if not a or not b else [not _equal(a, b)]


def _compare(op: Callable[[Any, Any], bool]) -> Op:
    def run(a: Items, b: Items) -> Items:
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1:
            raise Fallback
        x, y = plain(a[0]), plain(b[0])
        if (is_number(x) and is_number(y)) or (type(x) is type(y) and type(x) in (str, bool)):
            return [op(x, y)]
        raise Fallback

    return run


def _logic(op: Callable[[Any, Any], Any]) -> Op:
    def run(a: Items, b: Items) -> Items:
        result = op(boolean(a), boolean(b))
        return result if isinstance(result, list) else [result]

    return run


def _or(a: Any, b: Any) -> Any:
    if isinstance(b, list):
        return True if a is True else []
    if isinstance(a, list):
        return True if b is True else []
    return a or b


def _and(a: Any, b: Any) -> Any:
    if isinstance(b, list):
        return False if a is False else []
    if isinstance(a, list):
        return [] if b is True else False
    return a and b


def _xor(a: Any, b: Any) -> Any:
    if isinstance(a, list) or isinstance(b, list):
        return []
    return (a and not b) or (not a and b)


def _implies(a: Any, b: Any) -> Any:
    if isinstance(b, list):
        return True if a is False else []
    if isinstance(a, list):
        return True if b is True else []
    if a is False:
        return True
    return a and b


def _union(a: Items, b: Items) -> Items:
    return distinct(a + b)


def _in(a: Items, b: Items) -> Items:
    if not a:
        return []
    if not b:
        return [False]
    if len(a) > 1:
        raise Fallback
    x = data(a[0])
    return [any(data(y) == x for y in b)]


def _contains(a: Items, b: Items) -> Items:
    return _in(b, a)


def _plus_minus(minus: bool) -> Op:
    def run(a: Items, b: Items) -> Items:
        if not a or not b:
            return []
        x, y = _arithmetic_operand(a), _arithmetic_operand(b)
        if is_number(x) and is_number(y):
            return [x - y if minus else x + y]
        if not minus and isinstance(x, str) and isinstance(y, str):
            return [x + y]
        raise Fallback

    return run


def _amp(a: Items, b: Items) -> Items:
    x, y = _string(a), _string(b)
    return [(x or "") + (y or "")]  # an empty operand is the empty string


def _numeric(op: Callable[[Any, Any], Any], zero_empty: bool) -> Op:
    def run(a: Items, b: Items) -> Items:
        x, y = _number(a), _number(b)
        if isinstance(x, list) or isinstance(y, list):
            return []
        if zero_empty and y == 0:
            return []
        return [op(x, y)]

    return run


INFIX: dict[str, dict[str, Op]] = {
    "EqualityExpression": {"=": _eq, "!=": _ne},
    "InequalityExpression": {
        "<": _compare(lambda x, y: x < y),
        ">": _compare(lambda x, y: x > y),
        "<=": _compare(lambda x, y: x <= y),
        ">=": _compare(lambda x, y: x >= y),
    },
    "OrExpression": {"or": _logic(_or), "xor": _logic(_xor)},
    "XorExpression": {"xor": _logic(_xor)},
    "AndExpression": {"and": _logic(_and)},
    "ImpliesExpression": {"implies": _logic(_implies)},
    "UnionExpression": {"|": _union},
    "MembershipExpression": {"in": _in, "contains": _contains},
    "AdditiveExpression": {"+": _plus_minus(False), "-": _plus_minus(True), "&": _amp},
    "MultiplicativeExpression": {
        "*": _numeric(lambda x, y: x * y, False),
        "mod": _numeric(lambda x, y: x % y, True),
    },
}
