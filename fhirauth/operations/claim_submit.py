"""``POST [base]/Claim/$submit``: decide a PAS request, store it, answer a PAS response Bundle."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fhirauth.access import check_submitter
from fhirauth.conformance import validate_bundle
from fhirauth.decision.decide import AaaError
from fhirauth.decision.essentials import INPUT_ERROR, MISSING_DATA, missing_decision_data
from fhirauth.fhir.bundle import PasRequest, parse_request
from fhirauth.operations.claim_update import apply_update
from fhirauth.operations.pipeline import decide_new, find_authorization
from fhirauth.policy.context import is_cancelled, own_certification_types, signals_update
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository

log = logging.getLogger(__name__)


class _ScriptTaken(Exception):
    pass


@dataclass(frozen=True)
class SubmitResult:
    body: bytes
    authorization_id: str | None
    replayed: bool
    deviations: int = 0  # profile errors taken as warnings (lenient validation)
    warnings: int = 0


def content_hash(bundle: dict[str, Any]) -> str:
    """Same content, same hash, whatever the key order or whitespace it was sent with."""
    return hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
                auth_id, out = decide_new(
                    session, req, body, digest, principal, services, received, None, refusals
                )
            elif (req.is_update or signals_update(req.claim.resource)) and not _new_in_sandbox(
                session, req, principal, scripted
            ):
                auth_id, out = apply_update(
                    session, req, body, digest, principal, services, received, scripted
                )
            else:
                auth_id, out = decide_new(
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
