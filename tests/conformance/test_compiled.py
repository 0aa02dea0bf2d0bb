"""fhirauth.conformance.compiled: invariants as closures that give fhirpathpy's own results."""

from __future__ import annotations

from typing import Any

import pytest
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode

from fhirauth.conformance import Registry
from fhirauth.conformance.compiled import compile_native
from fhirauth.conformance.fhirpath import NATIVE, R4, parse_strict
from fhirauth.conformance.fhirpath_ops import Fallback

NPI_CHECK = (
    "(((select(value.substring(0,1).toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))"
    "+(value.substring(1,1).toInteger())+(select(value.substring(2,1).toInteger())"
    ".select(iif($this<5, $this*2, (($this*2)-9))))+(value.substring(3,1).toInteger())"
    "+(select(value.substring(4,1).toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))"
    "+(value.substring(5,1).toInteger())+(select(value.substring(6,1).toInteger())"
    ".select(iif($this<5, $this*2, (($this*2)-9))))+(value.substring(7,1).toInteger())"
    "+(select(value.substring(8,1).toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))"
    "+(value.substring(9,1).toInteger()) + 24)mod 10=0)"
)
CLAIM = {"resourceType": "Claim", "id": "c"}


def fhirpathpy(expression: str, value: Any, env: dict[str, Any]) -> bool | None:
    """What fhirpath.check made of fhirpathpy's result before the closures."""
    node = value
    if env.get("type_path") and isinstance(value, dict) and "resourceType" not in value:
        node = ResourceNode.create_node(value, env["type_path"])
    try:
        result = apply_parsed_path(node, parse_strict(expression), env, R4)
    except Exception:
        return None
    return True if not result else result == [True]


def env(type_path: str | None = None, root: Any = CLAIM) -> dict[str, Any]:
    return {"resource": root, "rootResource": root, "type_path": type_path}


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("value.exists() and (unit.exists() or code.exists())", {"value": 1}, env("Quantity")),
    ("value.exists() and (unit.exists() or code.exists())", {"value": 1, "unit": "d"}, env()),
    ("code.empty() or (system.exists() and system = 'x')", {"code": "a", "system": "x"}, env()),
    ("code.empty() or (system.exists() and system = 'x')", {"code": "a", "system": "y"}, env()),
    # = compares the first items only when both sides have as many
    ("given = 'a'", {"given": ["a", "b"]}, env("HumanName")),
    ("given = ('a' | 'b')", {"given": ["a", "c"]}, env("HumanName")),
    # where() keeps an item whose criterion yields a node, even a false one
    ("coding.where(userSelected).exists()", {"coding": [{"userSelected": False}]}, env()),
    ("coding.where(code = '1').exists()", {"coding": [{"code": "2"}, {"code": "1"}]}, env()),
    ("extension.where(url = 'u').value.coding.code = 'x'", {}, env("Claim.item")),
    (
        "extension.where(url = 'u').value.coding.code = 'x'",
        {"extension": [{"url": "u", "valueCodeableConcept": {"coding": [{"code": "x"}]}}]},
        env("Claim.item"),
    ),
    # $this is Parameters: a resource is a bare value there, of System type Object
    ("$this is Parameters", {"resourceType": "Parameters"}, env()),
    ("entry.first().resource is Claim", {"entry": [{"resource": CLAIM}]}, env("Bundle")),
    ("entry.first().resource.is(Claim)", {"entry": [{"resource": {"a": 1}}]}, env("Bundle")),
    ("%resource.id = 'c' and %rootResource.id = 'c'", {}, env()),
    ("system = 'n' implies value.matches('^[0-9]{10}$')", {"system": "n", "value": "1"}, env()),
    ("value.matches('^[0-9]{10}$')", {"value": ["1234567890", "1"]}, env("Identifier")),
    ("fullUrl.contains('/_history/').not()", {"fullUrl": "a/_history/1"}, env()),
    ("name.count() + telecom.count() > 1", {"name": "a", "telecom": [{}, {}]}, env()),
    ("(a & b) = 'xy'", {"a": "x", "b": "y"}, env()),
    ("a.toInteger() mod 2 = 1", {"a": "١٣"}, env()),  # Arabic-Indic digits count, as there
    ("a.toInteger() < 3", {"a": True}, env()),
    ("valueString.exists() xor valueBoolean.exists()", {"valueString": "a"}, env()),
    ("code = 'a'", {"code": "a", "_code": {"extension": []}}, env()),
    ("code = 'a'", {"code": "a", "_code": {"id": "1"}}, env()),  # a _companion: fhirpathpy
    ("value = 1", {"value": 1}, env("Quantity")),
    ("a.exists()", {"a": [None, 1]}, env()),
    ("isDistinct()", ["a"], env()),
    ("a.select(b).isDistinct()", {"a": [{"b": "x"}, {"b": "x"}]}, env()),
    (NPI_CHECK, {"value": "1234567893"}, env("Identifier")),
    (NPI_CHECK, {"value": "1234567890"}, env("Identifier")),
    (NPI_CHECK, {"value": "12345"}, env("Identifier")),
]


@pytest.mark.parametrize(("expression", "value", "environment"), CASES)
def test_the_closures_give_what_fhirpathpy_gives(
    expression: str, value: Any, environment: dict[str, Any]
) -> None:
    native = compile_native(parse_strict(expression))
    assert native is not None, f"{expression} is not compiled"
    try:
        got: bool | None = native(value, environment)
    except Fallback:
        return  # fhirpathpy evaluates it, as before
    assert got == fhirpathpy(expression, value, environment)


def test_what_is_not_mirrored_is_left_to_fhirpathpy() -> None:
    assert compile_native(parse_strict("name.given.join(' ').exists()")) is None
    assert compile_native(parse_strict("Patient.name.exists()")) is None  # type filter first
    assert compile_native(parse_strict("$this.x.exists()")) is None  # no $this at the top
    native = compile_native(parse_strict("code = 'a'"))
    assert native is not None
    with pytest.raises(Fallback):
        native({"code": "a", "_code": {"id": "1"}}, env())


def test_every_invariant_of_our_profiles_runs_as_closures(ours: Registry) -> None:
    """A new invariant outside the mirrored subset would run at fhirpathpy's speed: widen
    fhirauth/conformance/compiled.py, or accept it here knowingly."""
    slow = set()
    for profile in ours.profiles.values():
        stack = [profile.root]
        while stack:
            el = stack.pop()
            stack += [*el.children.values(), *el.slices.values()]
            slow |= {
                inv.expression
                for inv in el.invariants
                if inv.expression
                and inv.expression not in NATIVE
                and compile_native(parse_strict(inv.expression)) is None
            }
    assert not slow
