"""Reads and writes of the authorization aggregate. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from fhirauth.store.models import Authorization, ClaimResponseVersion, SandboxScript, Submission


@dataclass(frozen=True)
class Replay:
    """What a stored submission was answered with."""

    submission_id: str
    authorization_id: str | None
    bundle: bytes
    claim_response_id: str | None = None


def find_submission(session: Session, principal: str, content_hash: str) -> Replay | None:
    """The answer to this principal's earlier request of the same content, in one statement
    (no stored Claim JSON loaded)."""
    row = session.execute(
        select(
            Submission.id,
            Submission.authorization_id,
            ClaimResponseVersion.bundle,
            Authorization.claim_response_id,
        )
        .join(
            ClaimResponseVersion,
            (ClaimResponseVersion.authorization_id == Submission.authorization_id)
            & (ClaimResponseVersion.version == Submission.response_version),
        )
        .join(Authorization, Authorization.id == Submission.authorization_id)
        .where(Submission.principal == principal, Submission.content_hash == content_hash)
    ).first()
    return Replay(*row) if row else None


@dataclass(frozen=True)
class StoredResponse:
    """The latest ClaimResponse version of an authorization, with who may read it."""

    authorization_id: str
    principal: str
    provider_identifier: str | None
    bundle: bytes


def latest_response(session: Session, claim_response_id: str) -> StoredResponse | None:
    """One statement: the authorization, its current version's bytes and the requesting
    organization of its latest submission (what ``owner_of`` gives)."""
    provider = (
        select(Submission.provider_identifier)
        .where(Submission.authorization_id == Authorization.id)
        .order_by(Submission.received_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = session.execute(
        select(Authorization.id, Authorization.principal, provider, ClaimResponseVersion.bundle)
        .join(
            ClaimResponseVersion,
            (ClaimResponseVersion.authorization_id == Authorization.id)
            & (ClaimResponseVersion.version == Authorization.current_version),
        )
        .where(Authorization.claim_response_id == claim_response_id)
    ).first()
    return StoredResponse(*row) if row else None


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
