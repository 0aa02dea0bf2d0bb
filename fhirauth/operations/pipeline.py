"""The steps every request that changes an authorization shares: evaluate it against the
payer's policies and the member's coverage, render the response Bundle, store the submission
and the ClaimResponse version, queue the notifications. ``$submit`` (new requests and
updates), review and attachments are told in their own modules as sequences of these steps.

How an update finds its authorization (``find_authorization``), in order:

1. the identifiers of the prior Claim it embeds (``Claim.related.claim``), or the identifier on
   that reference, matched against every Claim submitted so far in any authorization's chain,
   provided the member id and the submitting organization's identifier agree;
2. failing that, authorization numbers it carries (``extension-authorizationNumber`` or
   ``extension-administrationReferenceNumber`` on the Claim or its items): an item number
   (``<preAuthRef>-<sequence>``) or the ``preAuthRef`` itself.

A refused submission (status ``error``) is not an authorization: no update or cancel finds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fhirauth import sandbox
from fhirauth.access import may_read
from fhirauth.auth import audit
from fhirauth.decision import clocks
from fhirauth.decision.decide import AaaError, Decision, ItemDecision, decide
from fhirauth.decision.response import Naming, claim_response, response_bundle
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import extension_value
from fhirauth.membership import Eligibility, Membership, member_id
from fhirauth.notifications.outbox import record_change
from fhirauth.policy import (
    Policy,
    PolicySet,
    RuleResult,
    evaluate_item,
    is_expedited,
)
from fhirauth.policy.context import ItemContext, is_cancelled, request_contexts, requested_dates
from fhirauth.policy.loader import NoPolicy
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    ClaimResponseVersion,
    Submission,
)
from fhirauth.store.records import (
    claim_identifiers,
    determine,
    error_event,
    fill_item,
    insert_new,
    item_event,
    provider_identifier,
    status_of,
    submission_row,
)
from fhirauth.store.repository import owner_of

log = logging.getLogger(__name__)
# X12 901 T4 "Payer Name or Identifier Missing": no policy here serves this insurer.
UNKNOWN_PAYER = "T4"
# The status of a refused submission (outcome=error): stored and answered, never updated.
REFUSED = "error"


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
    # Why the payer cannot process the request at all, if so.
    error: AaaError | None = None


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
    contexts = request_contexts(req, today)
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
            AaaError(UNKNOWN_PAYER, text, f"{req.insurer.path}.identifier"),
        )
    if scripted == "error":
        eligibility = sandbox.SCRIPTED_ERROR
    elif scripted:
        eligibility = Eligibility(True)  # the tester's script decides, whatever the Coverage says
    else:
        eligibility = membership.check(coverage, req.patient.resource, service_date)
    error = None
    if not eligibility.active:
        path = f"{coverage_path}.{eligibility.path}" if eligibility.path else coverage_path
        error = AaaError(str(eligibility.code), str(eligibility.message), path)
    if scripted and scripted != "error":
        results = sandbox.scripted_results(scripted, contexts, policy)
    else:
        results = [evaluate_item(policy, c) for c in contexts]
    return Evaluation(
        req, policy, contexts, results, eligibility, service_date, is_expedited(claim), error
    )


def render(
    req: PasRequest,
    decision: Decision,
    response_id: str,
    version: int,
    services: Services,
    due: datetime | None = None,
) -> bytes:
    """The response Bundle's bytes for one ClaimResponse version (stored, replayed as is);
    ``due`` is when documentation asked for is needed (default: the clock from the decision)."""
    name = naming(services)
    cr, created = claim_response(req, decision, response_id=response_id, naming=name, due=due)
    cr["meta"]["versionId"] = str(version)
    return orjson.dumps(
        response_bundle(
            req, cr, created=created, naming=name, bundle_id=services.ids(), now=decision.decided_at
        )
    )


def store_submission(
    session: Session,
    *,
    submission_id: str,
    auth_id: str,
    version: int,
    kind: str,
    req: PasRequest,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    scripted: str | None,
) -> None:
    """The submitted request, as the ``version`` of ``auth_id`` it produced. A sandbox script
    answers one submission: its replays are decided again, so their content is not a key."""
    session.add(
        new_submission(
            submission_id=submission_id,
            auth_id=auth_id,
            version=version,
            kind=kind,
            req=req,
            body=body,
            digest=digest,
            principal=principal,
            services=services,
            now=now,
            scripted=scripted,
        )
    )
    session.flush()


def new_submission(
    *,
    submission_id: str,
    auth_id: str,
    version: int,
    kind: str,
    req: PasRequest,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    scripted: str | None,
) -> Submission:
    """The Submission row of a request (see ``store_submission``), not stored yet."""
    return submission_row(
        submission_id=submission_id,
        auth_id=auth_id,
        principal=principal,
        digest=digest if scripted is None else f"sandbox:{submission_id}",
        kind=kind,
        req=req,
        body=body,
        claim_id=services.ids(),
        member=member_id(req.coverages[0].resource if req.coverages else {}, req.patient.resource),
        received=now,
        version=version,
    )


def store_version(
    session: Session,
    auth_id: str,
    version: int,
    out: bytes,
    now: datetime,
    submission_id: str | None = None,
) -> None:
    """The ClaimResponse version's Bundle, as answered and as every later read replays it."""
    session.add(
        ClaimResponseVersion(
            authorization_id=auth_id,
            version=version,
            submission_id=submission_id,
            created_at=now,
            bundle=out,
        )
    )


def notify(session: Session, auth_id: str, req: PasRequest, out: bytes, now: datetime) -> None:
    """Queue the change for every subscription it matches, in the transaction that stores it."""
    record_change(session, authorization_id=auth_id, request=req, response_bundle=out, at=now)


def decide_new(
    session: Session,
    req: PasRequest,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    scripted: str | None,
    refuse: tuple[AaaError, ...] = (),
    answers: tuple[ItemDecision, ...] | None = None,
    renews: str | None = None,
) -> tuple[str, bytes]:
    """Decide a request as a new authorization and store it; with ``refuse``, store it as a
    refused submission (outcome=error) answering ``answers`` for its items, by default CT for
    every one; with ``renews``, as the renewal of that authorization. The synchronous answer
    is its own delivery: nothing is queued."""
    ev = evaluate(req, services.policies, services.membership, now.date(), scripted)
    by_sequence = {int(i["sequence"]): i for i in req.items}
    cancelled = {r.sequence for r in ev.results if is_cancelled(by_sequence[r.sequence])}
    decision = decide(
        req.claim.resource,
        [r for r in ev.results if r.sequence not in cancelled],
        services.pre_auth_refs(),
        now,
    )
    if cancelled:  # withdrawn in the very request that asks for them: answered C (spec-46)
        withdrawn = (withdrawn_item(req, by_sequence[seq], now) for seq in cancelled)
        items = sorted([*decision.items, *withdrawn], key=lambda d: d.sequence)
        decision = replace(decision, items=tuple(items))
    # A refused request is stored and answered, but it is not an authorization: no number.
    if refuse:
        # Answer every submitted item (spec-34/46), deciding none of them.
        if answers is None:
            answers = tuple(ItemDecision(int(i["sequence"]), "CT", None) for i in req.items)
        decision = Decision("", now, answers, refuse)
    elif ev.error:
        decision = Decision("", now, (), (ev.error,))
    auth_id, response_id, submission_id = services.ids(), services.ids(), services.ids()
    # The CMS clock, for the authorization and for the documentation asked for in the answer.
    due = clocks.due_at(now, ev.expedited)
    out = render(req, decision, response_id, 1, services, due)
    status = REFUSED if decision.errors else status_of([d.action for d in decision.items])
    decided = None if status == "pended" else now
    auth = Authorization(
        id=auth_id,
        pre_auth_ref=decision.pre_auth_ref or None,
        claim_response_id=response_id,
        principal=principal.id,
        policy_id=ev.policy.id if ev.policy else "-",
        status=status,
        expedited=ev.expedited,
        due_at=due,
        renews=None if decision.errors else renews,
        current_version=1,
        received_at=now,
        # A synchronous answer is delivered in the HTTP response that carries it.
        decided_at=decided,
        delivered_at=decided,
        updated_at=now,
    )
    determine(auth, [d.action for d in decision.items], now)
    contexts = {c.sequence: c for c in ev.contexts}
    # A request the payer could not process had nothing authorized.
    items = [
        fill_item(
            AuthorizationItem(authorization_id=auth_id),
            d,
            by_sequence[d.sequence],
            contexts[d.sequence].codes,
        )
        for d in (() if decision.errors else decision.items)
    ]
    submission = new_submission(
        submission_id=submission_id,
        auth_id=auth_id,
        version=1,
        kind="renewal" if renews else "update" if req.is_update else "initial",
        req=req,
        body=body,
        digest=digest,
        principal=principal,
        services=services,
        now=now,
        scripted=scripted,
    )
    response = ClaimResponseVersion(
        authorization_id=auth_id,
        version=1,
        submission_id=submission_id,
        created_at=now,
        bundle=out,
    )
    if decision.errors:
        e = decision.errors[0]
        events = [error_event(auth_id, e.code, e.text, e.path, now)]
    else:
        events = [item_event(auth_id, d, now) for d in decision.items]
    # Written at once, in the order their foreign keys need, one statement per table and no
    # flush; nothing in this transaction works on them as objects of the session.
    insert_new(session, [auth, *items, submission, response, *events])
    audit.record_in(
        session,
        [f"ClaimResponse/{response_id}", f"authorization/{auth_id}"],
        now,
        audit.tolerated(req.deviations, len(req.warnings)),
    )
    log.info(
        "authorization %s stored: %d items, actions %s%s",
        auth_id,
        len(decision.items),
        ",".join(d.action for d in decision.items),
        " (error)" if decision.errors else "",
    )
    return auth_id, out


def withdrawn_item(req: PasRequest, item: dict[str, Any], now: datetime) -> ItemDecision:
    return ItemDecision(
        int(item["sequence"]),
        "C",
        None,
        issue_date=now.date(),
        requested=requested_dates(item, req.claim.resource),
        trace={"why": "cancelled by the provider", "decided_by": None},
    )


def find_authorization(
    session: Session, req: PasRequest, principal: Principal | None = None
) -> Authorization | None:
    """The authorization an update belongs to, among those the caller may see."""
    found = _find(session, req)
    if found is None or principal is None:
        return found
    owner = owner_of(session, found.id)
    return found if owner is not None and may_read(principal, *owner) else None


def _ident(value: Any) -> str | None:
    if not isinstance(value, dict) or not value.get("value"):
        return None
    return f"{value.get('system', '')}|{value['value']}"


def _numbers(claim: dict[str, Any]) -> list[str]:
    out = []
    for node in [claim, *(claim.get("item") or [])]:
        for name in ("extension-authorizationNumber", "extension-administrationReferenceNumber"):
            value = extension_value(node, name, "valueString")
            if value:
                out.append(str(value))
    return out


def _find(session: Session, req: PasRequest) -> Authorization | None:
    # A 2.0.1 update often carries the original request's identifiers as its own, with or
    # without a Claim.related naming a prior the bundle does not hold.
    keys = claim_identifiers(req.prior.resource) if req.prior else []
    keys += claim_identifiers(req.claim.resource)
    if req.prior_reference and _ident(req.prior_reference.get("identifier")):
        keys.append(str(_ident(req.prior_reference["identifier"])))
    member = member_id(req.coverages[0].resource if req.coverages else {}, req.patient.resource)
    provider = provider_identifier(req)
    if keys:
        subs = session.scalars(
            select(Submission)
            .join(Authorization, Authorization.id == Submission.authorization_id)
            .where(Submission.claim_identifier.in_(keys), Authorization.status != REFUSED)
            .order_by(Submission.received_at.desc())
        )
        for sub in subs:
            if sub.member_id and member and sub.member_id != member:
                continue
            if sub.provider_identifier and provider and sub.provider_identifier != provider:
                continue
            return session.get(Authorization, sub.authorization_id)
    for number in _numbers(req.claim.resource) + (
        _numbers(req.prior.resource) if req.prior else []
    ):
        auth = session.scalar(
            select(Authorization).where(
                Authorization.status != REFUSED,
                or_(
                    Authorization.pre_auth_ref == number,
                    Authorization.id.in_(
                        select(AuthorizationItem.authorization_id).where(
                            AuthorizationItem.authorization_number == number
                        )
                    ),
                ),
            )
        )
        if auth is not None:
            return auth
    return None
