"""``POST [base]/Claim/$submit``: decide a PAS request, store it, answer a PAS response Bundle."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from fhirauth.decision.decide import CERTIFIED, Decision, decide
from fhirauth.decision.response import claim_response, response_bundle
from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.policy import evaluate_item
from fhirauth.policy.engine import item_codes
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    ClaimResponseVersion,
    DecisionEvent,
    Submission,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitResult:
    body: bytes
    authorization_id: str | None
    replayed: bool


def content_hash(bundle: dict[str, Any]) -> str:
    """Same content, same hash, whatever the key order or whitespace it was sent with."""
    return hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()


def submit(body: bytes | dict[str, Any], principal: Principal, services: Services) -> SubmitResult:
    received = services.clock()
    req = parse_request(body)
    digest = content_hash(req.bundle)
    with services.sessions() as session:
        seen = repository.find_submission(session, principal.id, digest)
        if seen is not None:
            log.info("duplicate submission %s replayed", seen.id)
            return SubmitResult(repository.response_for(session, seen), seen.authorization_id, True)

    now = received
    policy = services.policies.for_insurer(req.insurer.resource.get("identifier") or [])
    results = [evaluate_item(policy, item) for item in req.items]
    decision = decide(req.claim.resource, results, services.pre_auth_refs(), now)

    auth_id, response_id, submission_id = services.ids(), services.ids(), services.ids()
    base = services.settings.base_url
    cr = claim_response(
        req,
        decision,
        response_id=response_id,
        identifier_system=services.settings.authorization_system,
    )
    cr["meta"]["versionId"] = "1"
    bundle = response_bundle(
        req,
        cr,
        bundle_id=services.ids(),
        response_full_url=f"{base}/ClaimResponse/{response_id}",
        now=now,
    )
    out = orjson.dumps(bundle)

    try:
        with services.sessions.begin() as session:
            session.add(_authorization(auth_id, response_id, principal, policy.id, decision, req))
            session.flush()
            session.add(
                _submission(
                    submission_id, auth_id, principal, digest, req, body, services.ids(), now
                )
            )
            session.flush()
            session.add(
                ClaimResponseVersion(
                    authorization_id=auth_id,
                    version=1,
                    submission_id=submission_id,
                    created_at=now,
                    bundle=out,
                )
            )
            session.add_all(_events(auth_id, decision))
    except IntegrityError:
        # The same bundle arrived twice at once: the other request stored it; answer with that.
        with services.sessions() as session:
            seen = repository.find_submission(session, principal.id, digest)
            if seen is None:
                raise
            return SubmitResult(repository.response_for(session, seen), seen.authorization_id, True)
    log.info(
        "authorization %s stored: %d items, actions %s",
        auth_id,
        len(decision.items),
        ",".join(d.action for d in decision.items),
    )
    return SubmitResult(out, auth_id, False)


def _status(decision: Decision) -> str:
    return "pended" if any(d.action == "A4" for d in decision.items) else "decided"


def _authorization(
    auth_id: str,
    response_id: str,
    principal: Principal,
    policy_id: str,
    decision: Decision,
    req: PasRequest,
) -> Authorization:
    now = decision.decided_at
    decided = None if _status(decision) == "pended" else now
    items_by_seq = {int(i["sequence"]): i for i in req.items}
    auth = Authorization(
        id=auth_id,
        pre_auth_ref=decision.pre_auth_ref,
        claim_response_id=response_id,
        principal=principal.id,
        policy_id=policy_id,
        status=_status(decision),
        current_version=1,
        received_at=now,
        # A synchronous answer is delivered in the HTTP response that carries it.
        decided_at=decided,
        delivered_at=decided,
        updated_at=now,
    )
    for d in decision.items:
        codes = item_codes(items_by_seq[d.sequence])
        system, code = codes[0] if codes else (None, None)
        auth.items.append(
            AuthorizationItem(
                sequence=d.sequence,
                code_system=system,
                code=code,
                review_action=d.action,
                authorization_number=d.number if d.action in CERTIFIED else None,
                period_start=d.period[0] if d.period else None,
                period_end=d.period[1] if d.period else None,
                reason_code=d.reason_code,
                rule_id=d.rule_id,
            )
        )
    return auth


def _submission(
    submission_id: str,
    auth_id: str,
    principal: Principal,
    digest: str,
    req: PasRequest,
    body: bytes | dict[str, Any],
    claim_id: str,
    received: datetime,
) -> Submission:
    def ident(value: Any) -> str | None:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict) or not value.get("value"):
            return None
        return f"{value.get('system', '')}|{value['value']}"

    return Submission(
        id=submission_id,
        authorization_id=auth_id,
        principal=principal.id,
        content_hash=digest,
        kind="initial",
        bundle_identifier=ident(req.bundle.get("identifier")),
        claim_identifier=ident(req.claim.resource.get("identifier")),
        claim_id=claim_id,
        claim=req.claim.resource,
        raw=body if isinstance(body, bytes) else orjson.dumps(body),
        warnings={
            "issues": [
                {"code": w.code, "diagnostics": w.diagnostics, "expression": list(w.expression)}
                for w in req.warnings
            ]
        },
        received_at=received,
        response_version=1,
    )


def _events(auth_id: str, decision: Decision) -> list[DecisionEvent]:
    return [
        DecisionEvent(
            authorization_id=auth_id,
            item_sequence=d.sequence,
            at=decision.decided_at,
            actor=f"rule:{d.rule_id}" if d.rule_id else f"policy:{d.trace.get('policy')}",
            action=d.action,
            reason_code=d.reason_code,
            note=d.reason,
            trace=d.trace,
        )
        for d in decision.items
    ]
