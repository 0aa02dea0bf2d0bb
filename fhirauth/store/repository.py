"""Reads and writes of the authorization aggregate. Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.store.models import Authorization, ClaimResponseVersion, Submission


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
