"""``POST [base]/Claim/$inquire``: find prior authorizations by example (REQUIREMENTS.md §1.4).

The body is a PAS inquiry Bundle whose first entry is a Claim Inquiry. The answer is a
Parameters with one ``return`` PAS inquiry response Bundle per matching authorization (zero or
more), each starting with a Claim Inquiry Response that gives the current result of every item,
with a PAS Task for each pended item still waiting for documentation. A request the payer
refused (outcome error) is found too, and answered with its errors.

Matching: the member (Coverage member id, subscriber id or Patient member identifier) must be
the stored request's; the insurer, when the inquiry names identifiers, must share one with the
stored request's insurer; and the inquirer's provider NPI must be the stored request's provider,
a care-team member or a requested service's performer (spec-53). Then the Claim Inquiry's
filters narrow the result: authorization numbers (REF-BB/REF-NT, Claim or item level; any number
an authorization ever answered with finds its current version, spec-47/48), billablePeriod,
and per item: the code (with ``productOrServiceCodeEnd`` for a range), the certification issue,
effective and expiration dates, and the review action. Several inquiry items are alternatives.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.access import npi_keys
from fhirauth.decision.decide import AaaError, Decision, ItemDecision
from fhirauth.decision.response import claim_response, response_bundle
from fhirauth.errors import Forbidden, invalid
from fhirauth.fhir.bundle import Entry, PasRequest, parse_request
from fhirauth.fhir.extensions import PAS, codings, extension_value, extensions
from fhirauth.fhir.references import resolve_one
from fhirauth.fhir.systems import canonical
from fhirauth.membership import member_id
from fhirauth.operations.pipeline import naming
from fhirauth.policy import Documentation
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    ClaimResponseVersion,
    Submission,
)
from fhirauth.store.records import stored_decision

NPI = "http://hl7.org/fhir/sid/us-npi"
NOT_APPLICABLE = "not-applicable"


def _identifiers(resource: dict[str, Any] | None) -> set[tuple[str, str]]:
    return {
        (str(i.get("system")), str(i.get("value")))
        for i in (resource or {}).get("identifier") or []
        if isinstance(i, dict) and i.get("value")
    }


def _npis(resource: dict[str, Any] | None) -> set[str]:
    return {v for s, v in _identifiers(resource) if s == NPI}


def request_npis(req: PasRequest) -> set[str]:
    """NPIs of the provider, the care team (and their practitioners and organizations) and
    the performers of the requested services."""
    out: set[str] = set()

    def add(ref: Any, referrer: Entry, depth: int = 0) -> None:
        target = resolve_one(ref, referrer, req.index) if depth <= 2 else None
        if target is None:
            return
        out.update(_npis(target.resource))
        for key in ("practitioner", "organization"):
            add(target.resource.get(key), target, depth + 1)
        for performer in target.resource.get("performer") or []:
            add(performer, target, depth + 1)

    claim = req.claim.resource
    add(claim.get("provider"), req.claim)
    for member in claim.get("careTeam") or []:
        add(member.get("provider"), req.claim)
    for item in claim.get("item") or []:
        add(extension_value(item, "extension-requestedService", "valueReference"), req.claim)
    return out


def _as_span(node: dict[str, Any], name: str) -> tuple[date, date] | None:
    for ext in extensions(node, PAS + name):
        if ext.get("valueDate"):
            d = date.fromisoformat(ext["valueDate"][:10])
            return d, d
        period = ext.get("valuePeriod") or {}
        start = date.fromisoformat(period["start"][:10]) if period.get("start") else date.min
        end = date.fromisoformat(period["end"][:10]) if period.get("end") else date.max
        return start, end
    return None


def _within(value: date | None, span: tuple[date, date] | None) -> bool:
    return span is None or (value is not None and span[0] <= value <= span[1])


def _item_matches(query: dict[str, Any], row: AuthorizationItem) -> bool:
    codes = [(c.get("system"), c.get("code")) for c in codings(query.get("productOrService"))]
    wanted = [(s, c) for s, c in codes if c and c != NOT_APPLICABLE]
    if wanted:
        end = extension_value(query, "extension-productOrServiceCodeEnd", "valueCodeableConcept")
        end_code = next((c.get("code") for c in codings(end)), None)
        ok = False
        for system, code in wanted:
            if canonical(system) != canonical(row.code_system) or row.code is None:
                continue
            if end_code and len(end_code) == len(code) == len(row.code):
                ok = ok or code <= row.code <= end_code
            else:
                ok = ok or row.code == code
        if not ok:
            return False
    action = extension_value(query, "extension-reviewActionCode", "valueCodeableConcept")
    actions = {c.get("code") for c in codings(action)}
    if actions and row.review_action not in actions:
        return False
    return (
        _within(row.issue_date, _as_span(query, "extension-itemCertificationIssueDate"))
        and _within(row.period_start, _as_span(query, "extension-itemCertificationEffectiveDate"))
        and _within(row.period_end, _as_span(query, "extension-itemCertificationExpirationDate"))
    )


def _numbers(claim: dict[str, Any]) -> set[str]:
    out = set()
    for node in [claim, *(claim.get("item") or [])]:
        for name in ("extension-authorizationNumber", "extension-administrationReferenceNumber"):
            value = extension_value(node, name, "valueString")
            if value:
                out.add(str(value))
    return out


def _matches(query: PasRequest, auth: Authorization, stored: PasRequest) -> bool:
    claim = query.claim.resource
    numbers = _numbers(claim)
    if numbers:
        issued = {auth.pre_auth_ref} | {
            i.authorization_number for i in auth.items if i.authorization_number
        }
        issued |= {f"{auth.pre_auth_ref}-{i.sequence}" for i in auth.items}
        if not numbers & issued:
            return False
    period = claim.get("billablePeriod")
    if period:
        start = str(period.get("start") or "")[:10] or "0000"
        end = str(period.get("end") or "")[:10] or "9999"
        spans = [(i.requested_start, i.requested_end) for i in auth.items if i.requested_start]
        if spans and not any(s.isoformat() <= end and start <= e.isoformat() for s, e in spans):
            return False
    filters = claim.get("item") or []
    return not filters or any(_item_matches(q, row) for q in filters for row in auth.items)


# What a sandbox answers when the inquiry's filters match none of the member's authorizations.
SANDBOX_NOTE = (
    "Sandbox: no prior authorization matched this inquiry's filters (authorization numbers, "
    "billablePeriod, item codes, certification dates, review action); the member's "
    "authorizations for this provider are returned instead."
)
# An inquiry that matches nothing, in 2.0.1 terms (one Bundle, never none): X12 901 AA.
NOT_FOUND = "No prior authorization on file matches this inquiry (member, insurer, provider)"


def inquire(
    body: bytes | dict[str, Any], principal: Principal, services: Services
) -> dict[str, Any]:
    """The answer to ``$inquire``: a Parameters with one ``return`` Bundle per match."""
    _, bundles = find(body, principal, services)
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "return", "resource": b} for b in bundles],
    }


def not_found(query: PasRequest, services: Services) -> dict[str, Any]:
    """An inquiry response Bundle saying that nothing matched (PAS 2.0.1 answers one Bundle):
    a Claim Inquiry Response with outcome error and X12 901 AA, authorization not found."""
    error = AaaError("AA", NOT_FOUND, query.claim.path, "C")
    decision = Decision("", services.clock(), (), (error,))
    cr, _ = claim_response(
        query, decision, response_id=services.ids(), naming=naming(services), inquiry=query
    )
    return response_bundle(
        query,
        cr,
        created=[],
        naming=naming(services),
        bundle_id=services.ids(),
        now=decision.decided_at,
        profile="profile-pas-inquiry-response-bundle",
    )


def find(
    body: bytes | dict[str, Any], principal: Principal, services: Services
) -> tuple[PasRequest, list[dict[str, Any]]]:
    """The inquiry and one inquiry response Bundle per authorization it matches. In sandbox
    mode, when the filters exclude every authorization of the member that the inquirer may
    see, those are answered instead, each with a note saying so."""
    query = parse_request(body)
    coverage = query.coverages[0].resource if query.coverages else {}
    member = member_id(coverage, query.patient.resource)
    if not member:
        raise invalid(
            "An inquiry must identify the patient by member id (Coverage.identifier "
            "type MB, Coverage.subscriberId or a Patient identifier of type MB); "
            "inquiries about no particular patient are not answered (PAS §1.4)",
            f"{query.coverages[0].path}.identifier"
            if query.coverages
            else f"{query.claim.path}.insurance",
            code="required",
        )
    inquirer = _npis(query.provider.resource)
    if not inquirer:
        raise invalid(
            "An inquiry must name its provider (Claim.provider) with an NPI; results "
            "are given only to the member's ordering or rendering providers (spec-53)",
            f"{query.provider.path}.identifier",
            code="required",
        )
    if not principal.anonymous and not inquirer & npi_keys(principal):
        raise Forbidden(
            "An inquiry is answered for the client's own providers: Claim.provider's "
            "NPI must be one this client is registered for (spec-53)"
        )
    insurer_ids = _identifiers(query.insurer.resource)
    now = services.clock()
    with services.sessions() as session:
        seen = []
        for auth, latest in _candidates(session, member):
            stored = parse_request(latest.raw)
            if (
                insurer_ids
                and _identifiers(stored.insurer.resource)
                and not (insurer_ids & _identifiers(stored.insurer.resource))
            ):
                continue
            if inquirer & request_npis(stored):
                seen.append((auth, stored))
        matched = [(a, s) for a, s in seen if _matches(query, a, s)]
        note = None
        if not matched and services.settings.sandbox:
            matched, note = seen, SANDBOX_NOTE
        bundles = [
            _response(session, auth, stored, query, services, now, note) for auth, stored in matched
        ]
    return query, bundles


def _candidates(session: Session, member: str) -> list[tuple[Authorization, Submission]]:
    ids = session.scalars(
        select(Submission.authorization_id).where(Submission.member_id == member).distinct()
    ).all()
    out = []
    for auth in session.scalars(
        select(Authorization).where(Authorization.id.in_(ids)).order_by(Authorization.received_at)
    ):
        # The latest statement of the request: the last submission that lists items (a
        # cancel of the whole request lists none; the items' results say they are cancelled).
        submissions = session.scalars(
            select(Submission)
            .where(Submission.authorization_id == auth.id)
            .order_by(Submission.received_at.desc(), Submission.response_version.desc())
        ).all()
        latest = next((s for s in submissions if (s.claim or {}).get("item")), None)
        latest = latest or (submissions[0] if submissions else None)
        if latest is not None:
            out.append((auth, latest))
    return out


def _response(
    session: Session,
    auth: Authorization,
    stored: PasRequest,
    query: PasRequest,
    services: Services,
    now: Any,
    note: str | None = None,
) -> dict[str, Any]:
    """A PAS inquiry response Bundle: the current result of every item (spec-46), the Claim it
    answers included and referenced (spec-44), and a PAS Task for each pended item still
    waiting for documentation. A request the payer refused answers with its errors."""
    errors, items = _refusal(session, auth) if auth.status == "error" else ((), _current(auth))
    decision = Decision(auth.pre_auth_ref, now, items, errors)
    cr, tasks = claim_response(
        stored,
        decision,
        response_id=auth.claim_response_id,
        naming=naming(services),
        due=auth.due_at,
        inquiry=query,
    )
    cr["meta"]["versionId"] = str(auth.current_version)
    if note:
        notes = cr.setdefault("processNote", [])
        notes.append({"number": len(notes) + 1, "type": "printoper", "text": note})
    return response_bundle(
        stored,
        cr,
        created=tasks,
        naming=naming(services),
        bundle_id=services.ids(),
        now=now,
        profile="profile-pas-inquiry-response-bundle",
    )


def _current(auth: Authorization) -> tuple[ItemDecision, ...]:
    """Every item as last answered; a pended one with the documentation it still waits for."""
    out = []
    for row in auth.items:
        d = stored_decision(row)
        if row.review_action == "A4" and row.requested_documents:
            missing = tuple(
                Documentation(
                    str(doc.get("description") or ""),
                    code=doc.get("code"),
                    questionnaire=doc.get("questionnaire"),
                )
                for doc in row.requested_documents
            )
            d = replace(d, missing=missing)
        out.append(d)
    return tuple(out)


def _refusal(
    session: Session, auth: Authorization
) -> tuple[tuple[AaaError, ...], tuple[ItemDecision, ...]]:
    """Why a refused request was refused, and the items it answered (CT), read off the
    ClaimResponse it was answered with."""
    version = session.scalar(
        select(ClaimResponseVersion).where(
            ClaimResponseVersion.authorization_id == auth.id,
            ClaimResponseVersion.version == auth.current_version,
        )
    )
    if version is None:
        return (), ()
    cr = orjson.loads(version.bundle)["entry"][0]["resource"]
    errors = []
    for error in cr.get("error") or []:
        followup = extension_value(error, "extension-errorFollowupAction", "valueCodeableConcept")
        errors.append(
            AaaError(
                str(error["code"]["coding"][0]["code"]),
                str(error["code"].get("text") or ""),
                extension_value(error, "extension-errorPath", "valueString"),
                next((str(c.get("code")) for c in codings(followup)), "C"),
            )
        )
    items = tuple(ItemDecision(int(i["itemSequence"]), "CT", None) for i in cr.get("item") or [])
    return tuple(errors), items
