"""The console's playground (sandbox mode): a bundle pasted or uploaded by a member of staff,
submitted as ``$submit`` takes it, as the playground's own principal, so its requests never
mix with a client's (a member of staff never files a request in a client's name; a client's
next outcomes can be scripted). The issues shown are ``$submit``'s own: a refusal's, or the
deviations it decided the request despite.

The principal may send any provider and sending system, as the anonymous principal does with
authentication off: in sandbox mode, trying a bundle is the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from fhirauth.errors import FhirError, Issue
from fhirauth.fhir.outcome import operation_outcome
from fhirauth.fhir.response_text import describe_response
from fhirauth.operations import review
from fhirauth.operations.claim_submit import submit
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository
from fhirauth.store.models import Authorization

PLAYGROUND = Principal("playground", anonymous=True)


@dataclass(frozen=True)
class Tried:
    """What became of a bundle: the issues found (FHIRPath, severity, words), the HTTP status
    ``$submit`` answered, the response (a Bundle, or the OperationOutcome of a refusal) and
    the per-item summary the CLI prints."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    response: dict[str, Any] | None = None
    summary: str | None = None

    @property
    def pretty(self) -> str:
        return orjson.dumps(self.response, option=orjson.OPT_INDENT_2).decode()


def _warnings(services: Services, auth_id: str | None) -> list[Issue]:
    """What ``$submit`` decided the request despite (profile deviations, unknown shapes), as
    it stored them with the submission: the request is checked once, by ``$submit`` itself."""
    if auth_id is None:
        return []
    with services.sessions() as session:
        auth = session.get(Authorization, auth_id)
        if auth is None:
            return []
        stored = (review.latest_submission(session, auth).warnings or {}).get("issues", [])
    return [
        Issue(w["code"], w["diagnostics"], tuple(w.get("expression") or ()), "warning")
        for w in stored
    ]


def try_bundle(body: bytes, services: Services) -> Tried:
    try:
        result = submit(body, PLAYGROUND, services)
    except FhirError as exc:
        return Tried(exc.status, list(exc.issues), operation_outcome(exc.issues))
    answer = orjson.loads(result.body)
    issues = _warnings(services, result.authorization_id)
    return Tried(200, issues, answer, describe_response(answer))


def script(services: Services, principal: str, outcome: str, count: int) -> list[dict[str, Any]]:
    with services.sessions.begin() as session:
        return repository.add_scripts(session, principal, outcome, count, services.clock())


def scripts(services: Services, principal: str) -> list[dict[str, Any]]:
    with services.sessions() as session:
        return repository.pending_scripts(session, principal)


def clear(services: Services, principal: str) -> None:
    with services.sessions.begin() as session:
        repository.clear_scripts(session, principal)
