"""Staff accounts for the console: reviewers and administrators who sign in with a password.

They are not API clients: an access token never opens the console and a console session never
opens the FHIR API. Passwords are hashed with argon2id (its parameters travel in the hash, so
they can be raised later and old hashes are upgraded at the next good sign-in). After
``LOCK_AFTER`` failures in a row an account refuses sign-in for ``LOCK_FOR``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fhirauth.store.models import ConsoleSession, StaffUser

ROLES: Final = ("reviewer", "admin")
MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 1024  # argon2 hashes anything; a bound keeps a sign-in cheap
LOCK_AFTER: Final = 5
LOCK_FOR: Final = timedelta(minutes=15)
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that an unknown name takes as long to
# refuse as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class StaffError(ValueError):
    """An account request that cannot be carried out, with a sentence saying why."""


class SignInRefused(Exception):
    """Wrong username or password, a disabled account, or one locked for repeated failures:
    the console says the same to each, so that it tells nobody which names exist."""


@dataclass(frozen=True)
class Staff:
    id: str
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def of(user: StaffUser) -> Staff:
    return Staff(user.id, user.username, user.role)


def is_username(name: str) -> bool:
    return _USERNAME.match(name) is not None


def check_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise StaffError(
            "a username is 1 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def _user(session: Session, username: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.lower()))
    if user is None:
        raise StaffError(f"no staff user {username!r}")
    return user


def exists(session: Session, username: str) -> bool:
    return session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None


def add(session: Session, username: str, role: str, password: str, now: datetime) -> Staff:
    name = check_username(username)
    if role not in ROLES:
        raise StaffError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if exists(session, name):
        raise StaffError(f"staff user {name!r} exists already (reset its password instead)")
    user = StaffUser(
        id=uuid.uuid4().hex,
        username=name,
        role=role,
        password_hash=_hasher.hash(check_password(password)),
        enabled=True,
        failed_logins=0,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return of(user)


def listing(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


def enabled_usernames(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(StaffUser.username).where(StaffUser.enabled).order_by(StaffUser.username)
        )
    )


def set_enabled(session: Session, username: str, enabled: bool) -> None:
    """Disable (signing it out everywhere) or enable an account."""
    user = _user(session, username)
    user.enabled = enabled
    if not enabled:
        _sign_out_everywhere(session, user.id)


def reset(session: Session, username: str, password: str) -> None:
    """A new password: lifts a lockout and ends every session of the account."""
    user = _user(session, username)
    user.password_hash = _hasher.hash(check_password(password))
    user.failed_logins = 0
    user.locked_until = None
    _sign_out_everywhere(session, user.id)


def _sign_out_everywhere(session: Session, user_id: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))


def sign_in(session: Session, username: str, password: str, now: datetime) -> Staff:
    """The account, when the password is right and the account may sign in; otherwise
    SignInRefused, having counted the failure."""
    name = username.strip().lower()
    # What cannot be a username is never looked up (PostgreSQL refuses a NUL in a query).
    user = (
        session.scalar(select(StaffUser).where(StaffUser.username == name).with_for_update())
        if is_username(name)
        else None
    )
    if user is None or len(password) > MAX_PASSWORD:
        _verify(_DUMMY_HASH, password[:MAX_PASSWORD])
        raise SignInRefused("unknown username")
    if user.locked_until is not None and user.locked_until > now:
        raise SignInRefused("locked")
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until = now + LOCK_FOR
            user.failed_logins = 0
        raise SignInRefused("wrong password")
    if not user.enabled:
        raise SignInRefused("disabled")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return of(user)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
