"""Claim Updates and cancellations on ``Claim/$submit`` (PAS 2.2.1 "Updating Authorization
Requests", REQUIREMENTS.md §1.3).

How an update finds its authorization: ``pipeline.find_authorization``.

Every submitted item is answered, and no other (spec-34, spec-46): cancelled items ``C``, added
items decided by the policy, changed items decided again (a denied item stays denied), unchanged
items as before. Authorization numbers do not change. A Claim-level certificationType 3 cancels
the whole authorization. An update of a denied authorization, or one that matches none, is
refused with ``outcome=error`` and an X12 901 code, still answering every submitted item; the
refusal is stored as a refused submission of its own and leaves the authorization as it was.

X12 1322 certificationType (UM02) on the Claim or an item says what the update asks for:
``S`` (revision) decides the item again, as a change does; ``4`` (extension) extends a
certified item's period and units under the same number (``decision/lifecycle.py``); ``R``
(renewal, on the Claim or on every item) is a new authorization for a new period, linked to
the one it renews, whose certified items for the same services it supersedes; ``3`` cancels.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.decision.decide import CERTIFIED, AaaError, Decision, ItemDecision, decide
from fhirauth.decision.lifecycle import ACTIVE, EXHAUSTED, extend
from fhirauth.fhir.bundle import PasRequest
from fhirauth.fhir.extensions import extension_value
from fhirauth.operations import appeals
from fhirauth.operations.pipeline import (
    decide_new,
    evaluate,
    find_authorization,
    notify,
    render,
    store_submission,
    store_version,
)
from fhirauth.policy.context import is_cancelled, own_certification_types, requested_dates
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store.models import Authorization, AuthorizationItem, DecisionEvent
from fhirauth.store.records import (
    determine,
    fill_item,
    item_event,
    refresh_status,
    requested_quantity,
    status_of,
    stored_decision,
)

log = logging.getLogger(__name__)

# X12 901 reject reasons for updates we refuse.
AUTHORIZATION_NOT_FOUND = "AA"  # Authorization Number Not Found
UPDATE_NOT_ALLOWED = "41"  # Authorization/Access Restrictions
_MODIFIABLE = ("productOrService", "modifier", "servicedDate", "servicedPeriod", "quantity", "net")
# X12 1322 certificationType codes an update may carry.
EXTENSION, RENEWAL, REVISION = "4", "R", "S"


def is_renewal(claim: dict[str, Any]) -> bool:
    """certificationType R on the Claim, or on every item it lists."""
    items = claim.get("item") or []
    return RENEWAL in own_certification_types(claim) or bool(
        items and all(RENEWAL in own_certification_types(i) for i in items)
    )


def _changed(row: AuthorizationItem, item: dict[str, Any]) -> bool:
    flag = extension_value(item, "extension-infoChanged", "valueCode")
    before = row.content or {}
    return flag == "changed" or any(before.get(k) != item.get(k) for k in _MODIFIABLE)


def apply_update(
    session: Session,
    req: PasRequest,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    scripted: str | None,
) -> tuple[str, bytes]:
    claim = req.claim.resource
    submitted = {int(i["sequence"]): i for i in req.items}
    whole_cancel = "3" in own_certification_types(claim)
    related_path = f"{req.claim.path}.related[0]"
    auth = find_authorization(session, req, principal)

    if auth is None and not req.is_update:
        # A 2.0.1-style update (no Claim.related) that matches nothing is a new request.
        return decide_new(session, req, body, digest, principal, services, now, scripted)

    if auth is None:
        # Nothing to update: store the attempt as a refused submission of its own.
        error = AaaError(
            AUTHORIZATION_NOT_FOUND,
            "No authorization matches this update: neither the prior Claim's identifier "
            "nor an authorization number on it is known here for this member and "
            "provider. Submit a new request.",
            related_path,
            "N",
        )
        return decide_new(session, req, body, digest, principal, services, now, scripted, (error,))

    if is_renewal(claim):
        return renew(session, req, auth, body, digest, principal, services, now, scripted)

    rows = {row.sequence: row for row in auth.items}
    if appeals.is_appeal(claim):
        why = appeals.refusal(session, req, auth)
        if why is None:
            return appeals.receive(session, req, auth, body, digest, principal, services, now)
        error = AaaError(UPDATE_NOT_ALLOWED, why, related_path, "N")
        answers = tuple(_refused(seq, rows.get(seq)) for seq in sorted(submitted))
        return decide_new(
            session, req, body, digest, principal, services, now, scripted, (error,), answers
        )
    version = auth.current_version + 1
    events = []
    error = None
    # Withdrawing services is always allowed, even from a denied request; changing is not.
    cancels_only = whole_cancel or all(
        is_cancelled(item) or (seq in rows and not _changed(rows[seq], item))
        for seq, item in submitted.items()
    )
    if auth.status == "cancelled" or (auth.status == "denied" and not cancels_only):
        error = AaaError(
            UPDATE_NOT_ALLOWED,
            f"This authorization was {auth.status}; it cannot be updated. Submit a new request.",
            related_path,
            "N",
        )
    ev = evaluate(req, services.policies, services.membership, now.date(), scripted)
    error = error or ev.error
    if error is not None:
        # Refused: stored as a refused submission of its own; the authorization is unchanged.
        answers = tuple(_refused(seq, rows.get(seq)) for seq in sorted(submitted))
        return decide_new(
            session, req, body, digest, principal, services, now, scripted, (error,), answers
        )

    answers: dict[int, ItemDecision] = {}
    results = {r.sequence: r for r in ev.results}
    redo = []
    claim_types = own_certification_types(claim)
    # Items under appeal wait for their reviewer, whatever the update says of them.
    appealed = appeals.under_appeal(session, auth.id)
    for seq, item in submitted.items():
        row = rows.get(seq)
        asks = claim_types | own_certification_types(item)
        if whole_cancel or is_cancelled(item):
            answers[seq] = _cancelled(seq, row, item, claim, now)
        elif row is not None and (row.review_action == "C" or seq in appealed):
            answers[seq] = stored_decision(row)
        elif row is not None and row.review_action == "A3":
            answers[seq] = stored_decision(row)  # a denied item is not updated
        elif row is not None and EXTENSION in asks and row.review_action in CERTIFIED:
            answers[seq] = extend(
                stored_decision(row),
                results[seq],
                requested_dates(item, claim),
                requested_quantity(item),
                now.date(),
            )
        elif row is None or REVISION in asks or _changed(row, item):
            redo.append(results[seq])
        elif row.review_action == "A4" and results[seq].action != "A4":
            redo.append(results[seq])  # documentation in this update satisfies the policy
        else:
            answers[seq] = stored_decision(row)
    for d in decide(claim, redo, auth.pre_auth_ref, now).items:
        answers[d.sequence] = d
    if whole_cancel:
        for seq, row in rows.items():
            if seq not in answers:
                row.review_action = "C"
                refresh_status(row)
                events.append(
                    item_event(
                        auth.id, _cancelled(seq, row, None, claim, now), now, "provider:cancel"
                    )
                )

    decision = Decision(
        auth.pre_auth_ref,
        now,
        tuple(answers[s] for s in sorted(answers)),
        header_action="C" if whole_cancel else None,
    )
    out = render(req, decision, auth.claim_response_id, version, services)

    contexts = {c.sequence: c for c in ev.contexts}
    for d in decision.items:
        row = rows.get(d.sequence)
        if row is None:
            row = AuthorizationItem()
            auth.items.append(row)
        elif stored_decision(row) == d and d.action != "C":
            continue
        fill_item(row, d, submitted.get(d.sequence), contexts[d.sequence].codes)
        events.append(item_event(auth.id, d, now, "provider:cancel" if d.action == "C" else None))

    if any(
        extension_value(info, "extension-infoChanged", "valueCode") == "added"
        for info in claim.get("supportingInfo") or []
    ):
        auth.documentation_received_at = now
    actions = [row.review_action for row in auth.items]
    auth.status = status_of(actions)
    auth.current_version = version
    auth.updated_at = now
    if auth.status != "pended":
        auth.decided_at = auth.decided_at or now
        auth.delivered_at = now
    determine(auth, actions, now)
    appeals.settle(session, auth, now, "provider:cancel")
    submission_id = services.ids()
    store_submission(
        session,
        submission_id=submission_id,
        auth_id=auth.id,
        version=version,
        kind="cancel" if whole_cancel else "update",
        req=req,
        body=body,
        digest=digest,
        principal=principal,
        services=services,
        now=now,
        scripted=scripted,
    )
    store_version(session, auth.id, version, out, now, submission_id)
    session.add_all(events)
    notify(session, auth.id, req, out, now)
    log.info(
        "authorization %s updated to version %d: %d items answered",
        auth.id,
        version,
        len(decision.items),
    )
    return auth.id, out


def renew(
    session: Session,
    req: PasRequest,
    auth: Authorization,
    body: bytes | dict[str, Any],
    digest: str,
    principal: Principal,
    services: Services,
    now: datetime,
    scripted: str | None,
) -> tuple[str, bytes]:
    """A renewal (certificationType R) of ``auth``: decided by the policy as a new request is,
    stored as a new authorization that ``renews`` it. The renewed authorization's active or
    exhausted items for a service the renewal certifies are superseded (recorded in its
    decision trace). A cancelled or denied authorization is not renewed (X12 901 41)."""
    if auth.status in ("cancelled", "denied"):
        error = AaaError(
            UPDATE_NOT_ALLOWED,
            f"This authorization was {auth.status}; it cannot be renewed. Submit a new request.",
            f"{req.claim.path}.related[0]",
            "N",
        )
        return decide_new(session, req, body, digest, principal, services, now, scripted, (error,))
    auth_id, out = decide_new(
        session, req, body, digest, principal, services, now, scripted, renews=auth.id
    )
    renewed = {
        (row.code_system, row.code)
        for row in session.scalars(
            select(AuthorizationItem).where(
                AuthorizationItem.authorization_id == auth_id, AuthorizationItem.status == ACTIVE
            )
        )
    }
    for row in auth.items:
        if row.status in (ACTIVE, EXHAUSTED) and (row.code_system, row.code) in renewed:
            row.superseded_by = auth_id
            refresh_status(row)
            session.add(
                DecisionEvent(
                    authorization_id=auth.id,
                    item_sequence=row.sequence,
                    at=now,
                    actor="provider:renewal",
                    action=row.review_action,
                    note=f"superseded by the renewal {auth_id}",
                    trace={"why": "renewed (certificationType R)", "superseded_by": auth_id},
                )
            )
    auth.updated_at = now
    log.info("authorization %s renewed by %s", auth.id, auth_id)
    return auth_id, out


def _refused(seq: int, row: AuthorizationItem | None) -> ItemDecision:
    """How a refused update answers a line: as the authorization holds it when that is not a
    certification (a refusal certifies nothing), else CT, contact the payer."""
    if row is None or row.review_action in CERTIFIED:
        return ItemDecision(seq, "CT", None)
    return stored_decision(row)


def _cancelled(
    seq: int,
    row: AuthorizationItem | None,
    item: dict[str, Any] | None,
    claim: dict[str, Any],
    now: datetime,
) -> ItemDecision:
    number = row.authorization_number if row is not None else None
    requested = requested_dates(item, claim) if item is not None else None
    if row is not None and requested is None and row.requested_start and row.requested_end:
        requested = (row.requested_start, row.requested_end)
    return ItemDecision(
        seq,
        "C",
        None,
        number=number,
        issue_date=now.date(),
        requested=requested,
        trace={"why": "cancelled by the provider", "decided_by": None},
    )


__all__ = ["apply_update"]
