"""``POST [base]/Claim/$submit``: decide a PAS request, store it, answer a PAS response Bundle."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from fhirauth import sandbox
from fhirauth.decision.decide import CERTIFIED, Decision, decide
from fhirauth.decision.response import Naming, claim_response, response_bundle
from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.membership import Eligibility, Membership
from fhirauth.policy import (
    Policy,
    PolicySet,
    RuleResult,
    claim_contexts,
    evaluate_item,
    is_expedited,
)
from fhirauth.policy.context import ItemContext
from fhirauth.policy.loader import NoPolicy
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
# X12 901 T4 "Payer Name or Identifier Missing": no policy here serves this insurer.
UNKNOWN_PAYER = "T4"


class _ScriptTaken(Exception):
    pass


@dataclass(frozen=True)
class SubmitResult:
    body: bytes
    authorization_id: str | None
    replayed: bool


@dataclass(frozen=True)
class Evaluation:
    """Everything decided about a request before anything is stored (also what explain shows)."""

    request: PasRequest
    policy: Policy | None
    contexts: list[ItemContext]
    results: list[RuleResult]
    eligibility: Eligibility
    service_date: date
    expedited: bool
    # Why the payer cannot process the request at all (X12 901 code, text, FHIRPath), if so.
    error: tuple[str, str, str] | None = None


def content_hash(bundle: dict[str, Any]) -> str:
    """Same content, same hash, whatever the key order or whitespace it was sent with."""
    return hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()


def naming(services: Services) -> Naming:
    s = services.settings
    return Naming(s.base_url, s.authorization_system, s.attachment_system, services.ids)


def evaluate(
    req: PasRequest,
    policies: PolicySet,
    membership: Membership,
    today: date,
    scripted: str | None = None,
) -> Evaluation:
    """Policy and membership for every item of a parsed request; stores nothing."""
    claim = req.claim.resource
    coverage = req.coverages[0].resource if req.coverages else {}

    def resolve(ref: Any) -> dict[str, Any] | None:
        if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
            return None
        found = req.resolve(ref["reference"], req.claim)
        return found[0].resource if len(found) == 1 else None

    contexts = claim_contexts(
        claim, patient=req.patient.resource, coverage=coverage, resolve=resolve, today=today
    )
    starts = [c.requested[0] for c in contexts if c.requested]
    service_date = min(starts) if starts else today
    coverage_path = req.coverages[0].path if req.coverages else req.claim.path
    try:
        policy = policies.select(
            req.insurer.resource.get("identifier") or [], coverage, service_date
        )
    except NoPolicy as exc:
        text = f"This payer endpoint does not serve the insurer, plan or date: {exc}"
        return Evaluation(
            req,
            None,
            contexts,
            [],
            Eligibility(False, UNKNOWN_PAYER, text),
            service_date,
            is_expedited(claim),
            (UNKNOWN_PAYER, text, f"{req.insurer.path}.identifier"),
        )
    if scripted == "error":
        eligibility = sandbox.SCRIPTED_ERROR
    else:
        eligibility = membership.check(coverage, req.patient.resource, service_date)
    error = None
    if not eligibility.active:
        path = f"{coverage_path}.{eligibility.path}" if eligibility.path else coverage_path
        error = (str(eligibility.code), str(eligibility.message), path)
    if scripted and scripted != "error":
        results = sandbox.scripted_results(scripted, contexts, policy)
    else:
        results = [evaluate_item(policy, c) for c in contexts]
    return Evaluation(
        req, policy, contexts, results, eligibility, service_date, is_expedited(claim), error
    )


def submit(body: bytes | dict[str, Any], principal: Principal, services: Services) -> SubmitResult:
    received = services.clock()
    req = parse_request(body)
    digest = content_hash(req.bundle)
    script = None
    with services.sessions() as session:
        if services.settings.sandbox:
            script = repository.pending_script(session, principal.id)
        if script is None:
            seen = repository.find_submission(session, principal.id, digest)
            if seen is not None:
                log.info("duplicate submission %s replayed", seen.id)
                return SubmitResult(
                    repository.response_for(session, seen), seen.authorization_id, True
                )

    now = received
    ev = evaluate(
        req, services.policies, services.membership, now.date(), script.outcome if script else None
    )
    decision = decide(req.claim.resource, ev.results, services.pre_auth_refs(), now)
    if ev.error:
        decision = Decision(decision.pre_auth_ref, now, decision.items, (ev.error,))

    auth_id, response_id, submission_id = services.ids(), services.ids(), services.ids()
    name = naming(services)
    cr, created = claim_response(req, decision, response_id=response_id, naming=name)
    cr["meta"]["versionId"] = "1"
    out = orjson.dumps(
        response_bundle(req, cr, created=created, naming=name, bundle_id=services.ids(), now=now)
    )
    stored_hash = digest if script is None else f"sandbox:{submission_id}"
    try:
        with services.sessions.begin() as session:
            session.add(_authorization(auth_id, response_id, principal, ev, decision))
            session.flush()
            session.add(
                _submission(
                    submission_id, auth_id, principal, stored_hash, req, body, services.ids(), now
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
            session.add_all(_events(auth_id, decision, ev))
            if script is not None and not repository.use_script(
                session, script.id, submission_id, now
            ):
                raise _ScriptTaken
    except _ScriptTaken:
        # Another submission used this script at the same moment: decide this one afresh.
        return submit(body, principal, services)
    except IntegrityError:
        # The same bundle arrived twice at once: the other request stored it; answer with that.
        with services.sessions() as session:
            seen = repository.find_submission(session, principal.id, digest)
            if seen is None:
                raise
            return SubmitResult(repository.response_for(session, seen), seen.authorization_id, True)
    log.info(
        "authorization %s stored: %d items, actions %s%s",
        auth_id,
        len(decision.items),
        ",".join(d.action for d in decision.items),
        " (error)" if decision.errors else "",
    )
    return SubmitResult(out, auth_id, False)


def _status(decision: Decision) -> str:
    if decision.errors:
        return "error"
    return "pended" if decision.pended else "decided"


def _authorization(
    auth_id: str, response_id: str, principal: Principal, ev: Evaluation, decision: Decision
) -> Authorization:
    now = decision.decided_at
    status = _status(decision)
    decided = None if status == "pended" else now
    auth = Authorization(
        id=auth_id,
        pre_auth_ref=decision.pre_auth_ref,
        claim_response_id=response_id,
        principal=principal.id,
        policy_id=ev.policy.id if ev.policy else "-",
        status=status,
        expedited=ev.expedited,
        current_version=1,
        received_at=now,
        # A synchronous answer is delivered in the HTTP response that carries it.
        decided_at=decided,
        delivered_at=decided,
        updated_at=now,
    )
    contexts = {c.sequence: c for c in ev.contexts}
    # A request the payer could not process answered no items: nothing was authorized.
    for d in () if decision.errors else decision.items:
        codes = contexts[d.sequence].codes
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


def _events(auth_id: str, decision: Decision, ev: Evaluation) -> list[DecisionEvent]:
    if decision.errors:
        code, text, path = decision.errors[0]
        return [
            DecisionEvent(
                authorization_id=auth_id,
                item_sequence=None,
                at=decision.decided_at,
                actor="payer",
                action="ERR",
                reason_code=code,
                note=text,
                trace={"membership": text, "path": path},
            )
        ]
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
