"""FHIRPath compiled to Python closures, for the constructs profile invariants use.

fhirpathpy interprets its parse tree on every evaluation: a dispatch per node, a regex per
identifier and literal, a ResourceNode per value, its invocation table merged per call. An
invariant costs 50-1500 µs that way, and a request evaluates dozens. Here the tree becomes
nested closures once, at load, evaluated over the JSON itself.

Results must not change, so these are fhirpathpy's semantics, departures from the spec
included (``where`` keeps an item whose criterion yields any node, ``=`` compares first items
only, ``$this is Parameters`` is false on a resource). Where an expression leaves the subset
mirrored here, :func:`compile_native` returns None; where an instance does (a primitive's
``_companion``, a Quantity compared, anything fhirpathpy would raise on), evaluation raises
:class:`Fallback`. Either way the caller evaluates with fhirpathpy. Values and operators are
:mod:`.fhirpath_ops`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fhirpathpy.engine import type_specifier
from fhirpathpy.engine.evaluators import (
    boolean_literal,
    identifier,
    number_literal,
    string_literal,
)

from fhirauth.conformance.fhirpath_ops import (
    INFIX,
    R4,
    Fallback,
    Items,
    data,
    distinct,
    is_number,
    is_type,
    node,
    plain,
)

_ELSEWHERE: dict[str, str] = R4["pathsDefinedElsewhere"]
_CHOICES: dict[str, list[str]] = R4["choiceTypePaths"]
_PATH2TYPE: dict[str, str] = R4["path2Type"]
_VARS = frozenset({"resource", "rootResource", "context", "ucum"})
_UCUM = ["http://unitsofmeasure.org"]
_INTEGER = re.compile(r"^[+-]?\d+$")  # fhirpathpy's toInteger() pattern
_MEMO = 256  # type paths remembered per member step (they may come from the instance)

# focus, $this (None where fhirpathpy has none yet), variables → the result collection
Fn = Callable[[Items, Items | None, dict[str, Any]], Items]


class _Unsupported(Exception):
    """This expression leaves the mirrored subset (found at compile time)."""


def compile_native(ast: dict[str, Any]) -> Callable[[Any, dict[str, Any]], bool] | None:
    """A check with fhirpathpy's result for the parsed expression ``ast`` (as fhirpath.check
    reads it: holds unless the result is a non-empty collection other than [true]), or None
    when the expression uses what is not mirrored here."""
    try:
        fn = _compile(ast["children"][0], this_ok=False)
    except Exception:  # _Unsupported, or fhirpathpy's helpers rejecting a node (it raises bare)
        return None

    def check(value: Any, env: dict[str, Any]) -> bool:
        type_path = env.get("type_path")
        if isinstance(value, list):
            raise Fallback
        if type_path and isinstance(value, dict) and "resourceType" not in value:
            root: Any = (value, type_path)
        else:
            root = value
        try:
            found = fn([root], None, {"context": root, **env})
        except Fallback:
            raise
        except Exception:  # anything unforeseen: fhirpathpy decides, as it always did
            raise Fallback from None
        # fhirpathpy drops a primitive's bare {"extension": …} from what it returns
        result = [x for x in found if not (isinstance(d := data(x), dict) and list(d) == _EXT)]
        if not result:
            return True  # an empty result does not contradict the constraint
        return len(result) == 1 and plain(result[0]) == True  # noqa: E712 (1 counts, as there)

    return check


_EXT = ["extension"]


def _compile(node: dict[str, Any], this_ok: bool) -> Fn:
    kind = node.get("type")
    kids = node.get("children") or []
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm", "LiteralTerm"):
        if len(kids) != 1:
            raise _Unsupported(kind)
        return _compile(kids[0], this_ok)
    if kind in ("StringLiteral", "NumberLiteral", "BooleanLiteral"):
        make = {"StringLiteral": string_literal, "NumberLiteral": number_literal}
        const = make.get(kind, boolean_literal)(None, None, node)
        return _constant(const)
    if kind == "ThisInvocation":
        if not this_ok:
            raise _Unsupported("$this where fhirpathpy has none")
        return lambda focus, this, env: this  # type: ignore[return-value]
    if kind == "ExternalConstantTerm":
        return _variable(kids[0])
    if kind == "MemberInvocation":
        return _member(_name(kids[0]))
    if kind == "FunctionInvocation":
        return _function(kids[0])
    if kind == "InvocationExpression":
        if any(k.get("type") == "ThisInvocation" for k in kids[1:]):
            raise _Unsupported("$this after a dot")
        return _chain([_compile(k, this_ok) for k in kids])
    if kind == "TypeExpression" and node["terminalNodeText"] == ["is"]:
        left = _compile(kids[0], True)
        spec = type_specifier(None, None, kids[1])
        return lambda focus, this, env: is_type(left(focus, focus, env), spec)
    if kind in INFIX and len(kids) == 2:
        op = INFIX[kind].get(node["terminalNodeText"][0])
        if op is None:
            raise _Unsupported(node["terminalNodeText"][0])
        left, right = _compile(kids[0], True), _compile(kids[1], True)
        # fhirpathpy evaluates both operands, each with $this the focus, before applying op
        const = getattr(right, "const", None)
        if const is not None:  # x = 'literal': no call for the literal
            return lambda focus, this, env: op(left(focus, focus, env), const)
        return lambda focus, this, env: op(left(focus, focus, env), right(focus, focus, env))
    raise _Unsupported(kind)


def _name(ident: dict[str, Any]) -> str:
    key: str = identifier(None, None, ident)[0].replace("`", "")
    if not key or key[0] == key[0].upper():
        # fhirpathpy filters a capitalised name by resourceType first
        raise _Unsupported(f"member {key}")
    return key


def _constant(const: Items) -> Fn:
    def literal(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        return const

    literal.const = const  # type: ignore[attr-defined]
    return literal


def _chain(steps: list[Fn]) -> Fn:
    first, rest = steps[0], steps[1:]
    if len(rest) == 1:  # a.b, the usual chain (the parser nests longer ones the same way)
        second = rest[0]
        return lambda focus, this, env: second(first(focus, this, env), this, env)

    def run(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        acc = first(focus, this, env)
        for step in rest:
            acc = step(acc, this, env)
        return acc

    return run


def _variable(const: dict[str, Any]) -> Fn:
    name = identifier(None, None, const["children"][0])[0].replace("`", "")
    if name not in _VARS:
        raise _Unsupported(f"%{name}")
    if name == "ucum":
        return lambda focus, this, env: _UCUM

    def read(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        value = env.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return read


def _member(key: str) -> Fn:
    # type path of the parent → (the child's path before choice and path2Type, choice types)
    memo: dict[str | None, tuple[str, list[str] | None]] = {}
    companion = "_" + key

    def step(items: Items, this: Items | None, env: dict[str, Any]) -> Items:
        out: Items = []
        for item in items:
            if type(item) is tuple:
                value, path = item
            else:
                value, path = node(item, None)  # a resource takes its type as path
            if not isinstance(value, dict):
                if key == "length":
                    raise Fallback
                continue
            known = memo.get(path)
            if known is None:
                child = f"{path}.{key}" if path else f"_.{key}"
                child = _ELSEWHERE.get(child, child)
                known = (child, _CHOICES.get(child))
                if len(memo) < _MEMO:
                    memo[path] = known
            child, choices = known
            if choices:
                found = extra = None
                for t in choices:
                    found = value.get(key + t)
                    extra = value.get("_" + key + t)
                    if found is not None or extra is not None:
                        child += t
                        break
            else:
                found = value.get(key)
                extra = value.get(companion)
                if key == "extension":
                    child = "Extension"
            if extra is not None and extra != []:
                raise Fallback  # a primitive's _companion: fhirpathpy adds it as a node
            if found is None or found == []:
                continue
            child = _PATH2TYPE.get(child, child)
            for x in found if isinstance(found, list) else (found,):
                # node(x, child), inline but for a resource
                if isinstance(x, dict):
                    out.append(node(x, child) if "resourceType" in x else (x, child))
                elif x is None or isinstance(x, list):
                    raise Fallback  # a null or nested array in the JSON: see node()
                else:
                    out.append((x, child))
        return out

    return step


# -- functions -------------------------------------------------------------------------------------


def _function(functn: dict[str, Any]) -> Fn:
    kids = functn["children"]
    name = identifier(None, None, kids[0])[0]
    params = kids[1]["children"] if len(kids) > 1 and "children" in kids[1] else []
    if name in ("where", "all", "exists", "select") and len(params) == 1:
        return _macro(name, _compile(params[0], True))
    if name == "iif" and len(params) in (2, 3):
        return _iif(*[_compile(p, True) for p in params])
    if name in _NO_PARAMS:
        if params:
            raise _Unsupported(f"{name}() with parameters")
        fn = _NO_PARAMS[name]
        return lambda focus, this, env: fn(focus)
    if name in ("matches", "contains") and len(params) == 1:
        return _string_function(name, _literal(params[0], "StringLiteral"))
    if name == "substring" and len(params) in (1, 2):
        return _substring(*[_literal(p, "NumberLiteral") for p in params])
    if name == "is" and len(params) == 1:
        spec = type_specifier(None, None, params[0])
        return lambda focus, this, env: is_type(focus, spec)
    raise _Unsupported(f"{name}()")


def _literal(node: dict[str, Any], kind: str) -> Any:
    """What a parameter is when it is only a string literal, or an integer literal."""
    while node.get("type") in ("TermExpression", "LiteralTerm") and len(node["children"]) == 1:
        node = node["children"][0]
    if node.get("type") != kind:
        raise _Unsupported(f"a parameter that is not a {kind}")
    value = (string_literal if kind == "StringLiteral" else number_literal)(None, None, node)[0]
    if kind == "NumberLiteral" and type(value) is not int:
        raise _Unsupported("a parameter that is not an integer")
    return value


def _not(focus: Items) -> Items:
    if len(focus) != 1:
        return []
    d = plain(focus[0])
    return [not d] if isinstance(d, bool) else [False]


def _to_integer(focus: Items) -> Items:
    if len(focus) != 1:
        return []
    d = plain(focus[0])
    if d is False or d is True:
        return [int(d)]
    if is_number(d):
        return [d] if int(d) == d else []  # a Decimal stays one there
    if isinstance(d, str) and _INTEGER.match(d):
        return [int(d)]
    return []


_NO_PARAMS: dict[str, Callable[[Items], Items]] = {
    "exists": lambda focus: [bool(focus)],
    "empty": lambda focus: [not focus],
    "count": lambda focus: [len(focus)],
    "first": lambda focus: focus[:1],
    "not": _not,
    "toInteger": _to_integer,
    "isDistinct": lambda focus: [len(focus) == len(distinct(focus))],
}


def _macro(name: str, expr: Fn) -> Fn:
    def where(focus: Items, env: dict[str, Any]) -> Items:
        out = []
        for x in focus:
            one = [x]
            r = expr(one, one, env)
            # fhirpathpy keeps x when the first result is a node (always truthy) or truthy
            if r and (type(r[0]) is tuple or r[0]):
                out.append(x)
        return out

    if name == "where":
        return lambda focus, this, env: where(focus, env)
    if name == "exists":
        return lambda focus, this, env: [bool(where(focus, env))]
    if name == "select":
        return lambda focus, this, env: [y for x in focus for y in expr([x], [x], env)]

    def every(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        for x in focus:
            one = [x]
            r = expr(one, one, env)
            if not (len(r) == 1 and data(r[0]) == True):  # noqa: E712 (fhirpathpy's is_true)
                return [False]
        return [True]

    return every


def _iif(cond: Fn, yes: Fn, no: Fn | None = None) -> Fn:
    # fhirpathpy evaluates each branch on the whole input, which is also its $this
    def run(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        r = cond(focus, focus, env)
        if len(r) == 1 and data(r[0]) == True:  # noqa: E712 (fhirpathpy's is_true)
            return yes(focus, focus, env)
        return no(focus, focus, env) if no is not None else []

    return run


def _string(focus: Items) -> str:
    """fhirpathpy's ensure_string_singleton (which raises where this falls back)."""
    if len(focus) != 1:
        raise Fallback
    s = plain(focus[0])
    if not isinstance(s, str):
        raise Fallback
    return s


def _string_function(name: str, arg: str) -> Fn:
    if name == "matches":
        if not arg:
            return lambda focus, this, env: []
        try:
            regex = re.compile(arg, re.DOTALL)
        except re.error:
            raise _Unsupported("an invalid regular expression") from None
        return lambda focus, this, env: [regex.search(_string(focus)) is not None] if focus else []
    return lambda focus, this, env: [arg in _string(focus)] if focus else []


def _substring(start: int, length: int | None = None) -> Fn:
    def run(focus: Items, this: Items | None, env: dict[str, Any]) -> Items:
        if not focus:
            return []
        s = _string(focus)
        if start < 0 or start >= len(s):
            return []
        return [s[start:] if length is None else s[start : start + length]]

    return run
