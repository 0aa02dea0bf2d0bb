"""Console sessions, kept on the server: the browser holds only a random token.

A session ends after ``IDLE`` without a request, ``ABSOLUTE`` after sign-in whatever happens,
at sign-out, and when its account is disabled or its password reset. Each carries its own
CSRF token, which every form posts back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fhirauth.auth.staff import Staff, of
from fhirauth.store.models import ConsoleSession, StaffUser

IDLE: Final = timedelta(minutes=30)
ABSOLUTE: Final = timedelta(hours=12)
# Sliding the idle expiry writes a row; once a minute is precise enough.
_TOUCH_EVERY: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class Opened:
    staff: Staff
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, staff: Staff, now: datetime) -> tuple[str, str]:
    """A new session for a signed-in account: (cookie token, CSRF token). Expired sessions
    of anyone are swept on the way."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_hash(token),
            user_id=staff.id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE,
        )
    )
    return token, csrf


def find(session: Session, token: str, now: datetime) -> Opened | None:
    """The live session a cookie token names, its idle expiry slid forward; None when there
    is none, it expired, or its account is disabled."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(ConsoleSession, StaffUser)
        .join(StaffUser, StaffUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    found, user = row
    if found.expires_at <= now or not user.enabled:
        return None
    if now - found.last_seen_at >= _TOUCH_EVERY:
        found.last_seen_at = now
        found.expires_at = min(now + IDLE, found.created_at + ABSOLUTE)
    return Opened(of(user), found.csrf)


def close(session: Session, token: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
