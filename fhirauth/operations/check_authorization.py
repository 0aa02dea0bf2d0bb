"""``POST [base]/Claim/$check-authorization``: a billing Claim against the authorizations on file.

The body is a billing Claim (``use=claim``), alone or first in a collection Bundle with what it
references, or a Parameters with ``resource`` (and ``record``). The member is the Coverage's
member id (or, for a Claim sent alone, the identifier on ``insurance.coverage`` or
``patient``). The answer is a Parameters: ``recorded`` and one ``line`` per claim line, with
the authorization number it falls under (absent: none), that item's status and units left, and
every ``mismatch`` (a code of ours and a sentence; ``decision/billing.py`` says which).

Only authorizations the caller may read are seen (the submitting client's, and its
organizations'). With ``record=true`` the units of every line that fits with no mismatch are
consumed (the billing ledger), once per client and ``Claim.identifier``: a retry consumes
nothing more and is answered exactly as the first recording was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fhirauth.access import may_read
from fhirauth.decision.billing import MISMATCHES, Authorized, LineCheck, Policy, check_lines
from fhirauth.decision.codes import json_number
from fhirauth.decision.lifecycle import effective_status, remaining
from fhirauth.errors import invalid
from fhirauth.fhir.billing import NPI, BillingClaim, parse_billing
from fhirauth.fhir.bundle import PasRequest, parse_bundle
from fhirauth.fhir.extensions import codings, extension_value
from fhirauth.fhir.references import resolve_one
from fhirauth.fhir.systems import canonical
from fhirauth.membership import member_id
from fhirauth.policy import claim_contexts, evaluate_item
from fhirauth.policy.loader import NoPolicy
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    BillingUsage,
    RecordedClaim,
    Submission,
)
from fhirauth.store.records import decimal_or_none, refresh_status
from fhirauth.store.repository import owner_of

log = logging.getLogger(__name__)
MISMATCH_SYSTEM = "urn:fhirauth:billing-mismatch"
REFUSED = "error"


@dataclass(frozen=True)
class CheckResult:
    body: bytes
    recorded: int  # lines whose units this call consumed
    replayed: bool
    authorizations: tuple[str, ...]


def check(
    body: bytes | dict[str, Any], principal: Principal, services: Services, record: bool = False
) -> CheckResult:
    """Check every line of a billing claim; with ``record`` (or a ``record`` parameter of a
    Parameters body), consume the units of those that fit (once per claim identifier)."""
    return check_claim(parse_billing(body, record), principal, services)


def check_claim(claim: BillingClaim, principal: Principal, services: Services) -> CheckResult:
    member = member_id(claim.coverage, claim.patient)
    if not member:
        raise invalid(
            "The claim names no member: a Coverage with a member id (identifier of type MB "
            "or subscriberId) in the Bundle, or an identifier on insurance.coverage or patient",
            f"{claim.path}.insurance[0].coverage",
            code="required",
        )
    if claim.record and not claim.identifier:
        raise invalid(
            "record=true consumes units once per claim: the claim needs an identifier",
            f"{claim.path}.identifier",
            code="required",
        )
    now = services.clock()
    today = now.date()
    if claim.record:
        seen = _recorded(services, principal, str(claim.identifier))
        if seen is not None:
            return CheckResult(seen, 0, True, ())
    required = _required(claim, services, today)
    try:
        with services.sessions.begin() as session:
            candidates = _candidates(session, member, principal, today, lock=claim.record)
            checks = check_lines(claim.lines, candidates, required, today)
            used = [c for c in checks if c.match is not None and not c.mismatches]
            consumed = [c for c in used if c.match and c.match.action in {"A1", "A2", "A6"}]
            answer = orjson.dumps(_parameters(checks, claim.record, consumed))
            if claim.record:
                _record(session, claim, principal, consumed, answer, services, now)
    except IntegrityError:
        # The same claim was recorded at the same moment by another request: answer as it was.
        seen = _recorded(services, principal, str(claim.identifier))
        if seen is None:
            raise
        return CheckResult(seen, 0, True, ())
    ids = tuple(dict.fromkeys(c.match.authorization_id for c in checks if c.match))
    return CheckResult(answer, len(consumed) if claim.record else 0, False, ids)


def _recorded(services: Services, principal: Principal, identifier: str) -> bytes | None:
    with services.sessions() as session:
        return session.scalar(
            select(RecordedClaim.response).where(
                RecordedClaim.principal == principal.id,
                RecordedClaim.claim_identifier == identifier,
            )
        )


def _required(claim: BillingClaim, services: Services, today: date) -> dict[int, Policy]:
    """Per line: does the payer's policy require prior authorization for it, by which rule?"""
    contexts = claim_contexts(
        claim.claim,
        patient=claim.patient,
        coverage=claim.coverage,
        resolve=lambda _: None,
        today=today,
    )
    out = {}
    for line, ctx in zip(claim.lines, contexts, strict=True):
        on = line.dates[0] if line.dates else today
        try:
            policy = services.policies.select(
                claim.insurer.get("identifier") or [], claim.coverage, on
            )
        except NoPolicy:
            out[line.sequence] = Policy(True)  # no policy says it is free of authorization
            continue
        result = evaluate_item(policy, ctx)
        out[line.sequence] = Policy(result.authorization_required, result.rule_id)
    return out


def _candidates(
    session: Session, member: str, principal: Principal, today: date, *, lock: bool
) -> list[Authorized]:
    """The member's authorized items the caller may see; locked for update when recording."""
    ids = select(Submission.authorization_id).where(Submission.member_id == member).distinct()
    out: list[Authorized] = []
    auths = session.scalars(
        select(Authorization)
        .where(Authorization.id.in_(ids), Authorization.status != REFUSED)
        .order_by(Authorization.received_at, Authorization.id)
    ).all()
    for order, auth in enumerate(auths):
        owner = owner_of(session, auth.id)
        if owner is None or not may_read(principal, *owner):
            continue
        stmt = select(AuthorizationItem).where(AuthorizationItem.authorization_id == auth.id)
        rows = session.scalars(stmt.with_for_update() if lock else stmt).all()
        req = _latest_request(session, auth.id)
        out += [_authorized(auth, row, req, today, order) for row in rows]
    return out


def _latest_request(session: Session, auth_id: str) -> PasRequest | None:
    """The latest statement of the request that lists items (for its care team)."""
    for sub in session.scalars(
        select(Submission)
        .where(Submission.authorization_id == auth_id)
        .order_by(Submission.received_at.desc(), Submission.response_version.desc())
    ):
        if (sub.claim or {}).get("item"):
            return parse_bundle(orjson.loads(sub.raw), models=False)
    return None


def _care_team_npis(req: PasRequest | None, item: dict[str, Any]) -> frozenset[str]:
    if req is None:
        return frozenset()
    team = {m.get("sequence"): m for m in req.claim.resource.get("careTeam") or []}
    out: set[str] = set()
    for seq in item.get("careTeamSequence") or []:
        entry = resolve_one((team.get(seq) or {}).get("provider"), req.claim, req.index)
        if entry is not None and entry.type == "PractitionerRole":
            entry = resolve_one(entry.resource.get("practitioner"), entry, req.index)
        for ident in (entry.resource.get("identifier") or []) if entry else []:
            if isinstance(ident, dict) and ident.get("system") == NPI and ident.get("value"):
                out.add(str(ident["value"]))
    return frozenset(out)


def _authorized(
    auth: Authorization,
    row: AuthorizationItem,
    req: PasRequest | None,
    today: date,
    order: int,
) -> Authorized:
    content = row.content or {}
    end = extension_value(content, "extension-productOrServiceCodeEnd", "valueCodeableConcept")
    period = (row.period_start, row.period_end) if row.period_start and row.period_end else None
    return Authorized(
        authorization_id=auth.id,
        pre_auth_ref=auth.pre_auth_ref or "",
        sequence=row.sequence,
        number=row.authorization_number,
        action=row.review_action,
        status=effective_status(row.status, row.period_end, today),
        system=canonical(row.code_system) if row.code_system else None,
        code=row.code,
        code_end=next((str(c["code"]) for c in codings(end) if c.get("code")), None),
        modifiers=frozenset(
            str(c["code"])
            for m in content.get("modifier") or []
            for c in codings(m)
            if c.get("code")
        ),
        period=period,
        authorized=decimal_or_none(row.authorized_quantity),
        used=decimal_or_none(row.used_quantity) or Decimal(0),
        places=frozenset(
            str(c["code"]) for c in codings(content.get("locationCodeableConcept")) if c.get("code")
        ),
        providers=_care_team_npis(req, content),
        order=order,
        rule_id=row.rule_id,
    )


def _record(
    session: Session,
    claim: BillingClaim,
    principal: Principal,
    consumed: list[LineCheck],
    answer: bytes,
    services: Services,
    now: Any,
) -> None:
    """The ledger rows of a recorded claim, and each item's units used brought up to date."""
    record_id = services.ids()
    session.add(
        RecordedClaim(
            id=record_id,
            principal=principal.id,
            claim_identifier=str(claim.identifier),
            recorded_at=now,
            response=answer,
        )
    )
    session.flush()  # a second recording of this claim fails here, before anything is used
    lines = {line.sequence: line for line in claim.lines}
    for c in consumed:
        assert c.match is not None
        line = lines[c.sequence]
        session.add(
            BillingUsage(
                billing_claim_id=record_id,
                line_sequence=c.sequence,
                authorization_id=c.match.authorization_id,
                item_sequence=c.match.sequence,
                units=str(line.quantity),
                service_date=line.dates[0] if line.dates else None,
            )
        )
    session.flush()
    for key in {(c.match.authorization_id, c.match.sequence) for c in consumed if c.match}:
        row = session.get(AuthorizationItem, key)
        assert row is not None
        units = session.scalars(
            select(BillingUsage.units).where(
                BillingUsage.authorization_id == key[0], BillingUsage.item_sequence == key[1]
            )
        ).all()
        row.used_quantity = str(sum((Decimal(u) for u in units), Decimal(0)))
        refresh_status(row)
    log.info("billing claim %s recorded: %d lines consumed units", record_id, len(consumed))


def _parameters(checks: list[LineCheck], record: bool, consumed: list[LineCheck]) -> dict[str, Any]:
    """The answer: ``recorded``, then per line its number, the item's status, the units left
    before this claim, the certified period, whether this call consumed its units, and every
    mismatch."""
    taking = {c.sequence for c in consumed} if record else set()
    lines = []
    for c in checks:
        part: list[dict[str, Any]] = [{"name": "sequence", "valuePositiveInt": c.sequence}]
        if c.number:
            part.append({"name": "authorizationNumber", "valueString": c.number})
        m = c.match
        if m is not None and c.number:
            if m.status:
                part.append({"name": "status", "valueCode": m.status})
            left = remaining(m.authorized, m.used)
            if left is not None:
                part.append({"name": "unitsRemaining", "valueDecimal": json_number(left)})
            if m.period:
                part.append(
                    {
                        "name": "certifiedPeriod",
                        "valuePeriod": {"start": str(m.period[0]), "end": str(m.period[1])},
                    }
                )
        if c.sequence in taking:
            part.append({"name": "recorded", "valueBoolean": True})
        for mismatch in c.mismatches:
            part.append(
                {
                    "name": "mismatch",
                    "part": [
                        {
                            "name": "code",
                            "valueCoding": {
                                "system": MISMATCH_SYSTEM,
                                "code": mismatch.code,
                                "display": MISMATCHES[mismatch.code],
                            },
                        },
                        {"name": "text", "valueString": mismatch.text},
                    ],
                }
            )
        lines.append({"name": "line", "part": part})
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "recorded", "valueBoolean": record}, *lines],
    }
