"""Reads and writes of the authorization aggregate. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
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


def _unused_scripts(principal: str) -> Select[tuple[SandboxScript]]:
    return (
        select(SandboxScript)
        .where(SandboxScript.principal == principal, SandboxScript.used_at.is_(None))
        .order_by(SandboxScript.id)
    )


def pending_script(session: Session, principal: str) -> SandboxScript | None:
    return session.scalar(_unused_scripts(principal).limit(1))


def pending_scripts(session: Session, principal: str) -> list[dict[str, Any]]:
    """A principal's scripts not used yet, in the order they will answer."""
    rows = session.scalars(_unused_scripts(principal)).all()
    return [{"id": s.id, "outcome": s.outcome, "principal": s.principal} for s in rows]


def add_scripts(
    session: Session, principal: str, outcome: str, count: int, at: datetime
) -> list[dict[str, Any]]:
    """Script the outcome of a principal's next ``count`` submissions; answers what is pending."""
    session.add_all(
        SandboxScript(principal=principal, outcome=outcome, created_at=at) for _ in range(count)
    )
    session.flush()
    return pending_scripts(session, principal)


def clear_scripts(session: Session, principal: str) -> None:
    for script in session.scalars(_unused_scripts(principal)):
        session.delete(script)


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
