"""Issues → OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhirauth.errors import Issue


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    out = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "details": {"text": issue.diagnostics},
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        out.append(entry)
    if not out:
        out = [{"severity": "information", "code": "informational", "diagnostics": "ok"}]
    return {"resourceType": "OperationOutcome", "issue": out}
