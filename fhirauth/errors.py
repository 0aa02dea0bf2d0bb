"""The few exceptions that become OperationOutcomes.

Nothing here knows about HTTP: ``status`` is a hint that ``api/errors.py`` turns into a
response, and the CLI prints the same issues.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and the FHIRPath(s) where."""

    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: str = "error"

    def as_warning(self) -> Issue:
        return Issue(self.code, self.diagnostics, self.expression, "warning")


@dataclass
class FhirError(Exception):
    issues: list[Issue] = field(default_factory=list)
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__("; ".join(i.diagnostics for i in self.issues))

    @classmethod
    def one(cls, code: str, diagnostics: str, *expression: str) -> FhirError:
        return cls([Issue(code, diagnostics, tuple(expression))])


class Invalid(FhirError):
    """The request cannot be processed as sent: resubmitting it unchanged will not help."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues, 400)


class NotFound(FhirError):
    def __init__(self, what: str) -> None:
        super().__init__([Issue("not-found", f"{what} is not known to this server")], 404)


class Forbidden(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__([Issue("forbidden", diagnostics)], 403)


class Conflict(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__([Issue("conflict", diagnostics)], 409)


class Unsupported(FhirError):
    """A request this server does not speak (media type, operation, purpose)."""

    def __init__(self, diagnostics: str, status: int = 415) -> None:
        super().__init__([Issue("not-supported", diagnostics)], status)


def invalid(diagnostics: str, *expression: str, code: str = "invalid") -> Invalid:
    return Invalid([Issue(code, diagnostics, tuple(expression))])
