"""fhirauth.conformance.fhirpath: invariants compiled once, evaluated natively when common."""

from __future__ import annotations

import pytest

from fhirauth.conformance.fhirpath import (
    NATIVE,
    InvariantError,
    compile_invariant,
    full_date,
    parse_strict,
)


def test_full_date_rule_accepts_only_year_month_day() -> None:
    assert full_date("2026-12-01")
    assert not full_date("2026-12")
    assert not full_date("2026-12-01T10:00:00Z")


def test_full_date_rule_checks_both_ends_of_a_period() -> None:
    assert full_date({"start": "2026-12-01", "end": "2026-12-31"})
    assert not full_date({"start": "2026-12-01", "end": "2026-12"})
    assert full_date({"start": "2026-12-01"})


def test_the_ig_s_full_date_expression_is_evaluated_natively() -> None:
    inv = compile_invariant(
        "FullDateRule", "error", "full dates", "$this.toString().length() = 10", strict=False
    )
    assert inv.check is NATIVE["$this.toString().length() = 10"]


@pytest.mark.parametrize(
    ("value", "holds"),
    [({"id": "a"}, False), ({"id": "a", "value": 1}, True), ("", False), ("x", True)],
)
def test_ele_1_needs_a_value_or_children_besides_id(value: object, holds: bool) -> None:
    inv = compile_invariant(
        "ele-1", "error", "", "hasValue() or (children().count() > id.count())", strict=False
    )
    assert inv.check is not None and inv.check(value, {}) is holds


def test_an_expression_is_compiled_and_evaluated_on_the_element() -> None:
    inv = compile_invariant("k", "error", "", "value.exists() and unit.exists()", strict=True)
    assert inv.check is not None
    assert inv.check({"value": 1, "unit": "d"}, {}) is True
    assert inv.check({"value": 1}, {}) is False


def test_an_empty_result_does_not_break_a_constraint() -> None:
    inv = compile_invariant("k", "error", "", "code = 'x'", strict=True)
    assert inv.check is not None and inv.check({}, {}) is True


def test_an_expression_fhirpathpy_lacks_a_function_for_is_skipped_with_the_reason() -> None:
    inv = compile_invariant("k", "error", "", "code.memberOf('http://x.org/vs')", strict=False)
    assert inv.check is None
    assert inv.skipped == "uses memberOf(), which fhirpathpy does not implement"


def test_a_syntax_error_is_found_not_ignored() -> None:
    with pytest.raises(InvariantError, match="column"):
        parse_strict("item.where(")


def test_our_own_invariants_must_be_usable() -> None:
    with pytest.raises(InvariantError, match="invariant k: uses resolve"):
        compile_invariant("k", "error", "", "patient.resolve().exists()", strict=True)
