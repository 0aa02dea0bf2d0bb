"""The console's playground (sandbox mode): a bundle pasted or uploaded by a member of staff,
checked as ``fhirauth validate`` checks it and then submitted as ``$submit`` would take it,
as the playground's own principal, so its requests never mix with a client's (a member of
staff never files a request in a client's name; a client's next outcomes can be scripted).

The principal may send any provider and sending system, as the anonymous principal does with
authentication off: in sandbox mode, trying a bundle is the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from fhirauth.conformance import validate_resource
from fhirauth.errors import FhirError, Issue
from fhirauth.fhir.bundle import parse_request, request_bundle
from fhirauth.fhir.outcome import operation_outcome
from fhirauth.fhir.response_text import describe_response
from fhirauth.operations.claim_submit import submit
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository

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


def _checked(body: bytes, services: Services) -> list[Issue]:
    """The structural checks and profile issues ``fhirauth validate`` reports (the request is
    decided despite them, as $submit decides it)."""
    data = request_bundle(body)
    issues = list(parse_request(data).warnings)
    issues += validate_resource(data, services.registry)
    return [i for i in issues if i.severity != "information"]


def try_bundle(body: bytes, services: Services) -> Tried:
    try:
        issues = _checked(body, services)
        result = submit(body, PLAYGROUND, services)
    except FhirError as exc:
        return Tried(exc.status, list(exc.issues), operation_outcome(exc.issues))
    answer = orjson.loads(result.body)
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
