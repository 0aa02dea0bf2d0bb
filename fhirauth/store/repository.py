"""Reads and writes of the authorization aggregate. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fhirauth.store.models import Authorization, ClaimResponseVersion, SandboxScript, Submission


def find_submission(session: Session, principal: str, content_hash: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(
            Submission.principal == principal, Submission.content_hash == content_hash
        )
    )


def response_for(session: Session, submission: Submission) -> bytes:
    """The exact response bytes this submission was answered with."""
    version = session.get(
        ClaimResponseVersion, (submission.authorization_id, submission.response_version)
    )
    assert version is not None, "a stored submission always has its response"
    return version.bundle


def latest_response(session: Session, claim_response_id: str) -> ClaimResponseVersion | None:
    auth = session.scalar(
        select(Authorization).where(Authorization.claim_response_id == claim_response_id)
    )
    if auth is None:
        return None
    return session.get(ClaimResponseVersion, (auth.id, auth.current_version))


def claim_by_id(session: Session, claim_id: str) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.claim_id == claim_id))


def pending_script(session: Session, principal: str) -> SandboxScript | None:
    return session.scalar(
        select(SandboxScript)
        .where(SandboxScript.principal == principal, SandboxScript.used_at.is_(None))
        .order_by(SandboxScript.id)
        .limit(1)
    )


def use_script(session: Session, script_id: int, submission_id: str, at: datetime) -> bool:
    """Mark a script used, unless another submission took it first (conditional UPDATE)."""
    result = session.execute(
        update(SandboxScript)
        .where(SandboxScript.id == script_id, SandboxScript.used_at.is_(None))
        .values(used_at=at, used_by=submission_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def owner_of(session: Session, authorization_id: str) -> tuple[str, str | None] | None:
    """Who an authorization belongs to: the submitting principal and the requesting
    organization's identifier key (of its latest submission)."""
    auth = session.get(Authorization, authorization_id)
    if auth is None:
        return None
    provider = session.scalars(
        select(Submission.provider_identifier)
        .where(Submission.authorization_id == authorization_id)
        .order_by(Submission.received_at.desc())
    ).first()
    return auth.principal, provider
