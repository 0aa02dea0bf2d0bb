"""FHIRPath conditions: checked strictly at load, evaluated against the normalized context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

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

    def __call__(self, context: dict[str, Any]) -> bool:
        """True only when the expression yields exactly ``true``; empty is false."""
        return self._fn({}, context) == [True]


def compile_condition(expression: str) -> Condition:
    try:
        _check_syntax(expression)
        fn = fhirpathpy.compile(expression)
        fn({}, {name: None for name in VARIABLES})  # wrong arity, unknown functions, variables
    except ConditionError:
        raise
    except Exception as exc:  # fhirpathpy raises bare Exception for most errors
        raise ConditionError(str(exc)) from None
    return Condition(expression, fn)
