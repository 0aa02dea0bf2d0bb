"""FHIRPath conditions: checked strictly at load, evaluated against the normalized context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhirauth.policy.fastpath import Defer, Fast, compile_fast

# Every variable a condition may use; the same names for claims and eligibility requests.
VARIABLES = (
    "claim",
    "item",
    "patient",
    "coverage",
    "request",
    "diagnoses",
    "age",
    "sex",
    "serviceDate",
    "levelOfService",
    "supportingInfo",
    "documents",
    "questionnaires",
    "quantity",
    "expedited",
)


_CODING = {"system": "http://example.org/codes", "code": "X1", "display": "sample"}
_SAMPLE: dict[str, Any] = {
    "claim": {
        "resourceType": "Claim",
        "priority": {"coding": [_CODING]},
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [_CODING]}}],
        "supportingInfo": [{"sequence": 1, "category": {"coding": [_CODING]}}],
    },
    "item": {
        "sequence": 1,
        "productOrService": {"coding": [_CODING]},
        "modifier": [{"coding": [_CODING]}],
        "quantity": {"value": 2, "unit": "units"},
        "servicedDate": "2026-01-02",
        "diagnosis": [{"coding": [_CODING]}],
        "locationCodeableConcept": {"coding": [_CODING]},
    },
    "patient": {"resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01"},
    "coverage": {
        "resourceType": "Coverage",
        "status": "active",
        "class": [{"type": {"coding": [_CODING]}, "value": "PLAN"}],
    },
    "request": {"resourceType": "ServiceRequest", "code": {"coding": [_CODING]}},
    "diagnoses": [{"coding": [_CODING]}],
    "age": 40,
    "sex": "female",
    "serviceDate": "2026-01-02",
    "levelOfService": "E",
    "supportingInfo": [{"resourceType": "DocumentReference", "type": {"coding": [_CODING]}}],
    "documents": ["11506-3"],
    "questionnaires": ["http://example.org/Questionnaire/q"],
    "quantity": 2.0,
    "expedited": False,
}


class ConditionError(ValueError):
    pass


class _Raise(ErrorListener):  # type: ignore[misc]
    def syntaxError(
        self, recognizer: Any, symbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise ConditionError(f"column {column + 1}: {msg}")


def _check_syntax(expression: str) -> None:
    # fhirpathpy's own parser ignores syntax errors; parse the whole text with one that doesn't.
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    parser.entireExpression()


@dataclass(frozen=True)
class Condition:
    expression: str
    _fn: Callable[[Any, dict[str, Any]], list[Any]]
    # The same expression without fhirpathpy's interpreter, when it is in the subset
    # fastpath.py answers (as fhirpathpy would, or not at all: then _fn answers).
    _fast: Fast | None = None

    def __call__(self, context: dict[str, Any]) -> bool:
        return self.outcome(context) is True

    def outcome(self, context: dict[str, Any]) -> bool | str:
        """True only when the expression yields exactly ``true`` (empty, 1 or 'true' are not);
        an expression that fails on this data is not met, and says why for the trace."""
        if self._fast is not None:
            try:
                return self._fast(context)
            except Defer:
                pass
        try:
            result = self._fn({}, context)
        except Exception as exc:  # fhirpathpy raises bare Exception for evaluation errors
            return f"error: {exc}"
        return len(result) == 1 and result[0] is True


@cache
def compile_condition(expression: str) -> Condition:
    """Compile once per distinct text: policies repeat the same conditions across rules."""
    try:
        _check_syntax(expression)
        fn = fhirpathpy.compile(expression)
        # Dry runs catch wrong arity, unknown functions and variables, type errors: once with
        # nothing known, once with data of every shape a request can bring.
        fn({}, {name: None for name in VARIABLES})
        fn({}, _SAMPLE)
    except ConditionError:
        raise
    except Exception as exc:  # fhirpathpy raises bare Exception for most errors
        raise ConditionError(str(exc)) from None
    return Condition(expression, fn, compile_fast(expression))
