"""``POST [base]/Claim/$submit``: decide a PAS request, store it, answer a PAS response Bundle."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fhirauth import sandbox
from fhirauth.access import check_submitter
from fhirauth.conformance import validate_bundle
from fhirauth.decision import clocks
from fhirauth.decision.decide import AaaError, Decision, ItemDecision, decide
from fhirauth.decision.essentials import INPUT_ERROR, MISSING_DATA, missing_decision_data
from fhirauth.decision.response import Naming, claim_response, response_bundle
from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.membership import Eligibility, Membership, member_id
from fhirauth.policy import (
    Policy,
    PolicySet,
    RuleResult,
    claim_contexts,
    evaluate_item,
    is_expedited,
)
from fhirauth.policy.context import (
    ItemContext,
    is_cancelled,
    own_certification_types,
    requested_dates,
    signals_update,
)
from fhirauth.policy.loader import NoPolicy
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository
from fhirauth.store.models import Authorization, AuthorizationItem, ClaimResponseVersion
from fhirauth.store.records import error_event, fill_item, item_event, status_of, submission_row

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
    deviations: int = 0  # profile errors taken as warnings (lenient validation)
    warnings: int = 0


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


def submit(body: bytes | dict[str, Any], principal: Principal, services: Services) -> SubmitResult:
    received = services.clock()
    req = parse_request(body)
    check_submitter(principal, req)
    refusals = request_errors(req, services)
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
    scripted = script.outcome if script else None
    try:
        with services.sessions.begin() as session:
            if refusals:
                auth_id, out = _initial(
                    session, req, body, digest, principal, services, received, None, refusals
                )
            elif (req.is_update or signals_update(req.claim.resource)) and not _new_in_sandbox(
                session, req, principal, scripted
            ):
                from fhirauth.operations.claim_update import apply_update

                auth_id, out = apply_update(
                    session, req, body, digest, principal, services, received, scripted
                )
            else:
                auth_id, out = _initial(
                    session, req, body, digest, principal, services, received, scripted
                )
            # A script waits for a request it can decide (one the payer could process).
            if (
                script is not None
                and (script.outcome == "error" or not _refused(out))
                and not repository.use_script(session, script.id, auth_id, received)
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
    return SubmitResult(out, auth_id, False, req.deviations, len(req.warnings))


_MAX_REPORTED = 20


def _new_in_sandbox(
    session: Session, req: PasRequest, principal: Principal, scripted: str | None
) -> bool:
    """Sandbox: a scripted update that the payer would refuse is decided as a new request (as
    a 2.0.1 update without Claim.related that matches nothing is), so that it answers the
    script. Refused are updates of an authorization this server never saw (X12 901 AA), of a
    cancelled one, and changes to a denied one (41). The conformance kits send such requests:
    must-support Claim Updates of a prior Claim they carry along, and initial requests that
    reuse one Claim.identifier while flagging their items infoChanged, which reads as a 2.0.1
    update of the request before (the kit's denial, then its pend). Without a script these
    updates are refused."""
    if scripted is None or scripted == "error":
        return False
    from fhirauth.operations.claim_update import find_authorization

    auth = find_authorization(session, req, principal)
    if auth is None or auth.status == "cancelled":
        return True
    claim = req.claim.resource
    withdraws_only = "3" in own_certification_types(claim) or all(
        is_cancelled(item) for item in req.items
    )
    return auth.status == "denied" and not withdraws_only


def request_errors(req: PasRequest, services: Services) -> tuple[AaaError, ...]:
    """Check the request against our PAS profiles (REQUIREMENTS.md §2) and for the data a
    decision needs. Missing decision data (decision/essentials.py) makes an outcome=error answer
    in the X12 AAA style. Profile deviations are kept with the submission as warnings for the
    payer's technical staff (spec-40/41), never a 4xx; with FHIRAUTH_VALIDATION=strict a
    deviation in what the decision reads (the Claim, member, Coverage, insurer, requestor) is
    an outcome=error too."""
    errors = missing_decision_data(req)
    strict = services.settings.validation == "strict"
    needed = {e.index for e in (req.claim, req.patient, req.insurer, req.provider, *req.coverages)}
    for issue in validate_bundle(req.bundle, services.registry):
        where = issue.expression[0] if issue.expression else "Bundle"
        if issue.severity != "error":
            req.warnings.append(issue)
        elif strict and _entry_index(where) in needed:
            missing = issue.code == "required" or " found 0" in issue.diagnostics
            errors.append(
                AaaError(MISSING_DATA if missing else INPUT_ERROR, issue.diagnostics, where)
            )
        else:
            req.warnings.append(issue.as_warning())
            req.deviations += 1
    return tuple(errors[:_MAX_REPORTED])


def _refused(response: bytes) -> bool:
    return orjson.loads(response)["entry"][0]["resource"].get("outcome") == "error"


def _entry_index(path: str) -> int | None:
    if not path.startswith("Bundle.entry["):
        return None
    return int(path[len("Bundle.entry[") :].split("]", 1)[0])


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


def _initial(
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
) -> tuple[str, bytes]:
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
        decision = replace(
            decision,
            items=tuple(
                sorted(
                    [
                        *decision.items,
                        *(_withdrawn(req, by_sequence[seq], now) for seq in cancelled),
                    ],
                    key=lambda d: d.sequence,
                )
            ),
        )
    # A refused request is stored and answered, but it is not an authorization: no number.
    if refuse:
        # Answer every submitted item (spec-34/46), deciding none of them.
        if answers is None:
            answers = tuple(ItemDecision(int(i["sequence"]), "CT", None) for i in req.items)
        decision = Decision("", now, answers, refuse)
    elif ev.error:
        decision = Decision("", now, (), (ev.error,))
    auth_id, response_id, submission_id = services.ids(), services.ids(), services.ids()
    out = render(req, decision, response_id, 1, services)
    status = "error" if decision.errors else status_of([d.action for d in decision.items])
    decided = None if status == "pended" else now
    auth = Authorization(
        id=auth_id,
        pre_auth_ref=decision.pre_auth_ref or None,
        claim_response_id=response_id,
        principal=principal.id,
        policy_id=ev.policy.id if ev.policy else "-",
        status=status,
        expedited=ev.expedited,
        due_at=clocks.due_at(now, ev.expedited),
        current_version=1,
        received_at=now,
        # A synchronous answer is delivered in the HTTP response that carries it.
        decided_at=decided,
        delivered_at=decided,
        updated_at=now,
    )
    contexts = {c.sequence: c for c in ev.contexts}
    items = by_sequence
    # A request the payer could not process had nothing authorized.
    for d in () if decision.errors else decision.items:
        auth.items.append(
            fill_item(AuthorizationItem(), d, items[d.sequence], contexts[d.sequence].codes)
        )
    session.add(auth)
    session.flush()
    stored_hash = digest if scripted is None else f"sandbox:{submission_id}"
    session.add(
        submission_row(
            submission_id=submission_id,
            auth_id=auth_id,
            principal=principal,
            digest=stored_hash,
            kind="update" if req.is_update else "initial",
            req=req,
            body=body,
            claim_id=services.ids(),
            member=member_id(
                req.coverages[0].resource if req.coverages else {}, req.patient.resource
            ),
            received=now,
            version=1,
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
    if decision.errors:
        e = decision.errors[0]
        session.add(error_event(auth_id, e.code, e.text, e.path, now))
    else:
        session.add_all(item_event(auth_id, d, now) for d in decision.items)
    log.info(
        "authorization %s stored: %d items, actions %s%s",
        auth_id,
        len(decision.items),
        ",".join(d.action for d in decision.items),
        " (error)" if decision.errors else "",
    )
    return auth_id, out


def _withdrawn(req: PasRequest, item: dict[str, Any], now: datetime) -> ItemDecision:
    return ItemDecision(
        int(item["sequence"]),
        "C",
        None,
        issue_date=now.date(),
        requested=requested_dates(item, req.claim.resource),
        trace={"why": "cancelled by the provider", "decided_by": None},
    )


def _initial_error(
    session: Session,
    req: PasRequest,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    refuse: tuple[AaaError, ...],
    answers: tuple[ItemDecision, ...] | None = None,
    scripted: str | None = None,
) -> tuple[str, bytes]:
    """Store and answer a refused update or cancel as a refused submission of its own (the
    authorization it names, if any, is left as it was): ``answers`` for its items, by default
    CT for every one."""
    return _initial(session, req, body, digest, principal, services, now, scripted, refuse, answers)
