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

    def headers(self) -> dict[str, str]:
        """Response headers the status calls for (WWW-Authenticate, Retry-After)."""
        return {}


class Invalid(FhirError):
    """The request cannot be processed as sent: resubmitting it unchanged will not help."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues, 400)


class NotFound(FhirError):
    def __init__(self, what: str) -> None:
        super().__init__([Issue("not-found", f"{what} is not known to this server")], 404)


class Forbidden(FhirError):
    def __init__(self, diagnostics: str, *expression: str) -> None:
        super().__init__([Issue("forbidden", diagnostics, expression)], 403)


def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


class Unauthorized(FhirError):
    """No usable bearer token (RFC 6750): 401 with ``WWW-Authenticate: Bearer``.

    ``error`` is None when no token was sent, else ``invalid_token`` (or ``invalid_request``)."""

    def __init__(
        self,
        diagnostics: str,
        error: str | None = None,
        *,
        expired: bool = False,
        realm: str = "fhirauth",
    ) -> None:
        super().__init__([Issue("expired" if expired else "login", diagnostics)], 401)
        self.error = error
        self.realm = realm

    def headers(self) -> dict[str, str]:
        value = f'Bearer realm="{_quoted(self.realm)}"'
        if self.error:
            value += (
                f', error="{self.error}", error_description="{_quoted(self.issues[0].diagnostics)}"'
            )
        return {"WWW-Authenticate": value}


class InsufficientScope(Forbidden):
    """The token is good but lacks the scope the endpoint needs (RFC 6750 §3.1)."""

    def __init__(self, scope: str, *, realm: str = "fhirauth") -> None:
        super().__init__(f"this request needs the scope {scope}, which the access token lacks")
        self.scope = scope
        self.realm = realm

    def headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": f'Bearer realm="{_quoted(self.realm)}", '
            f'error="insufficient_scope", scope="{self.scope}"'
        }


class TooManyRequests(FhirError):
    """Over the client's rate limit: 429 with ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__([Issue("throttled", f"rate limit reached: retry in {retry_after} s")], 429)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooCostly(FhirError):
    """More than this server processes in one request (``fhir/limits.py``): 413, issue
    ``too-costly``. The request may be valid FHIR; sent in smaller parts it would be processed,
    which is why this is not a 400."""

    def __init__(self, diagnostics: str, *expression: str) -> None:
        super().__init__([Issue("too-costly", diagnostics, tuple(expression))], 413)


class Conflict(FhirError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__([Issue("conflict", diagnostics)], 409)


class Unsupported(FhirError):
    """A request this server does not speak (media type, operation, purpose)."""

    def __init__(self, diagnostics: str, status: int = 415) -> None:
        super().__init__([Issue("not-supported", diagnostics)], status)


def invalid(diagnostics: str, *expression: str, code: str = "invalid") -> Invalid:
    return Invalid([Issue(code, diagnostics, tuple(expression))])
