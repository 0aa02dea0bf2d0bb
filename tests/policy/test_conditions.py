"""fhirauth.policy.conditions: FHIRPath conditions, checked strictly at load."""

from __future__ import annotations

from typing import Any

import pytest

from fhirauth.policy.conditions import VARIABLES, ConditionError, compile_condition


def variables(**given: Any) -> dict[str, Any]:
    return {name: None for name in VARIABLES} | given


@pytest.mark.parametrize(
    "expression",
    [
        "true",
        "%age >= 18",
        "%age >= 50 and %item.diagnosis.coding.where(code.startsWith('M17')).exists()",
        "%diagnoses.coding.where(code.startsWith('C') or code.startsWith('D0')).exists()",
        "%documents contains '11506-3'",
        "%questionnaires contains 'http://payer.example.org/Questionnaire/knee'",
        "%levelOfService = '03'",
        "%sex = 'female' and %quantity <= 2",
        "%expedited",
        "%serviceDate >= @2026-01-01",
        "%claim.item.count() > 1",
        "%patient.birthDate.exists() and %coverage.exists() and %request.exists()",
        "%supportingInfo.exists()",
    ],
)
def test_a_valid_expression_over_the_context_variables_compiles(expression: str) -> None:
    assert compile_condition(expression).expression == expression


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "%age >",
        "%age >= 50)",
        "(%age >= 50",
        "%age.foo(",
        "%item.diagnosis.where(code = 'X'",
        "%age >= 18 and and true",
    ],
)
def test_a_syntax_error_is_refused(expression: str) -> None:
    with pytest.raises(ConditionError):
        compile_condition(expression)


def test_a_syntax_error_names_its_column() -> None:
    with pytest.raises(ConditionError, match="column 11"):
        compile_condition("%age >= 50)")


@pytest.mark.parametrize("expression", ["%ages >= 50", "%member.exists()", "%Age > 1"])
def test_an_unknown_variable_is_refused(expression: str) -> None:
    with pytest.raises(ConditionError, match="variable"):
        compile_condition(expression)


@pytest.mark.parametrize(
    "expression",
    ["%item.exists(1, 2, 3)", "%diagnoses.count(1)", "%item.where()", "true.not(1)"],
)
def test_a_function_called_with_the_wrong_number_of_arguments_is_refused(
    expression: str,
) -> None:
    with pytest.raises(ConditionError):
        compile_condition(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "%documents.contains()",
        "%item.diagnosis.coding.where(code.startsWith()).exists()",
    ],
    ids=["string-function-on-a-variable", "inside-where"],
)
def test_a_string_function_with_the_wrong_number_of_arguments_is_refused_at_load(
    expression: str,
) -> None:
    with pytest.raises(ConditionError):
        compile_condition(expression)


def test_an_unknown_function_is_refused() -> None:
    with pytest.raises(ConditionError):
        compile_condition("%item.frobnicate()")


def test_every_documented_variable_may_be_used() -> None:
    for name in VARIABLES:
        compile_condition(f"%{name}.exists() or true")


@pytest.mark.parametrize(
    ("expression", "given"),
    [
        ("true", {}),
        ("%age >= 18", {"age": 18}),
        ("%documents contains '11506-3'", {"documents": ["11506-3", "18748-4"]}),
        ("%expedited", {"expedited": True}),
        ("true | true", {}),
    ],
)
def test_a_condition_yielding_exactly_true_holds(expression: str, given: dict[str, Any]) -> None:
    assert compile_condition(expression)(variables(**given)) is True


@pytest.mark.parametrize(
    ("expression", "given"),
    [
        ("false", {}),
        ("%age >= 18", {"age": 17}),
        ("%age >= 18", {}),
        ("{}", {}),
        ("true and {}", {}),
        ("true | false", {}),
        ("'true'", {}),
        ("%documents contains '11506-3'", {"documents": []}),
        ("%expedited", {"expedited": False}),
        ("%diagnoses", {"diagnoses": [{"coding": [{"code": "F32.1"}]}]}),
        ("0", {}),
    ],
    ids=[
        "false",
        "false-comparison",
        "comparison-with-a-missing-value-is-empty",
        "empty",
        "true-and-empty",
        "true-and-false",
        "the-string-true",
        "absent-document",
        "false-variable",
        "a-resource",
        "zero",
    ],
)
def test_a_condition_yielding_anything_but_exactly_true_does_not_hold(
    expression: str, given: dict[str, Any]
) -> None:
    assert compile_condition(expression)(variables(**given)) is False


@pytest.mark.parametrize(
    ("expression", "given"),
    [("1", {}), ("%quantity", {"quantity": 1.0}), ("%age", {"age": 1})],
    ids=["integer-literal", "quantity-of-one", "age-of-one"],
)
def test_a_condition_yielding_the_number_one_does_not_hold(
    expression: str, given: dict[str, Any]
) -> None:
    assert compile_condition(expression)(variables(**given)) is False
