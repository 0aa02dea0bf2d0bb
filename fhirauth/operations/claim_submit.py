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
from fhirauth.auth import audit
from fhirauth.conformance import validate_bundle
from fhirauth.decision.decide import AaaError
from fhirauth.decision.essentials import INPUT_ERROR, MISSING_DATA, missing_decision_data
from fhirauth.errors import invalid
from fhirauth.fhir.bundle import PasRequest, parse_bundle, request_bundle
from fhirauth.fhir.strict_json import unpaired_surrogate
from fhirauth.operations.claim_update import apply_update
from fhirauth.operations.pipeline import decide_new, find_authorization
from fhirauth.policy.context import is_cancelled, own_certification_types, signals_update
from fhirauth.principal import Principal
from fhirauth.services import Services
from fhirauth.store import repository
from fhirauth.store.models import SandboxScript

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
    replay_of: str | None = None  # the submission whose answer this is
    claim_response_id: str | None = None  # known without reading the answer (replays)


def content_hash(bundle: dict[str, Any]) -> str:
    """Same content, same hash, whatever the key order or whitespace it was sent with."""
    return hashlib.sha256(orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)).hexdigest()


def submit(body: bytes | dict[str, Any], principal: Principal, services: Services) -> SubmitResult:
    """Decide and store a PAS request, or replay the answer to the same content.

    A resubmission of content this principal already sent (the content hash, read before any
    validation: it was validated when first sent) is answered with the stored bytes; only
    with a sandbox script pending is it decided afresh. Anything else is parsed, checked
    against the R4 models, the submitter's registrations and our profiles, then decided."""
    received = services.clock()
    data = request_bundle(body)  # what is not JSON: 400, as before anything else
    digest = _digest(data)
    script, seen = _script_or_seen(data, digest, principal, services)
    if seen is not None:
        return seen
    req = parse_bundle(data)
    check_submitter(principal, req)
    refusals = request_errors(req, services)
    if digest is None:
        raise invalid(
            "The body holds text that is not Unicode: an unpaired surrogate escape (\\ud800 to "
            "\\udfff without its pair)",
            unpaired_surrogate(data, "Bundle") or "Bundle",
            code="structure",
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
            return _replay(seen)
    return SubmitResult(out, auth_id, False, req.deviations, len(req.warnings))


def _digest(data: Any) -> str | None:
    """The content hash of a request, or None when its JSON has no canonical form (a string
    with an unpaired surrogate)."""
    try:
        return content_hash(data)
    except orjson.JSONEncodeError:
        return None


def _script_or_seen(
    data: Any, digest: str | None, principal: Principal, services: Services
) -> tuple[SandboxScript | None, SubmitResult | None]:
    """The sandbox script pending for the principal, else the replay of the stored answer when
    it sent this content before. Nothing that was never stored is found, so a malformed body
    goes on to its 400. A replay is checked against the submitter's registrations as the first
    sending was (they may have changed since), without the R4 models: the same content passed
    them then. A replay's audit row is written in the transaction that found it."""
    with services.sessions.begin() as session:
        if services.settings.sandbox:
            script = repository.pending_script(session, principal.id)
            if script is not None:
                return script, None
        seen = repository.find_submission(session, principal.id, digest) if digest else None
        if seen is None:
            return None, None
        if not principal.anonymous:
            check_submitter(principal, parse_bundle(data, models=False))
        audit.record_in(
            session,
            [f"ClaimResponse/{seen.claim_response_id}", f"authorization/{seen.authorization_id}"],
            services.clock(),
            replayed(seen.submission_id),
        )
    return None, _replay(seen)


def replayed(submission_id: str) -> str:
    """The audit detail of a request answered with what an earlier one was."""
    return f"replayed the answer to submission {submission_id}"


def _replay(seen: repository.Replay) -> SubmitResult:
    return SubmitResult(
        seen.bundle,
        seen.authorization_id,
        True,
        replay_of=seen.submission_id,
        claim_response_id=seen.claim_response_id,
    )


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
