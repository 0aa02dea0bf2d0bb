"""The client registry: SMART Backend Services clients in the database."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.auth import scopes as scope_rules
from fhirauth.auth.keys import check_public_jwks
from fhirauth.store.models import Client

_ORG = re.compile(r"^[^|\s]+\|[^|\s]+$")
_SENDER = re.compile(r"^[^|\s]{1,64}$")  # ISA06 is 2-15 characters; PAS carries a string


class ClientError(ValueError):
    """A registration that cannot be accepted, with a sentence saying why."""


@dataclass(frozen=True)
class NewClient:
    name: str
    organizations: tuple[str, ...]
    scopes: tuple[str, ...]
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    sender_ids: tuple[str, ...] = ()


def check_sender_ids(sender_ids: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """X12 interchange sender ids (ISA06), as PAS carries them in interchangeSenderID."""
    for sender in sender_ids:
        if not _SENDER.match(sender):
            raise ClientError(
                f"sender id {sender[:80]!r} is not 1 to 64 characters without spaces or '|'"
            )
    return tuple(dict.fromkeys(sender_ids))


def check(new: NewClient) -> NewClient:
    """The registration, normalized, or ClientError."""
    name = new.name.strip()
    if not name or len(name) > 255:
        raise ClientError("a client needs a name of at most 255 characters")
    if (new.jwks is None) == (new.jwks_url is None):
        raise ClientError("give exactly one of a JWKS (--jwks FILE) or a JWKS URL (--jwks-url)")
    jwks = None
    if new.jwks is not None:
        try:
            jwks = check_public_jwks(new.jwks)
        except ValueError as exc:
            raise ClientError(f"JWKS: {exc}") from None
    if new.jwks_url is not None:
        parts = urlsplit(new.jwks_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ClientError("the JWKS URL must be an https:// URL")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ClientError("the JWKS URL must be https (plain http only for loopback tests)")
    if not new.organizations:
        raise ClientError("a client acts for at least one organization (--org-identifier)")
    for org in new.organizations:
        if not _ORG.match(org):
            raise ClientError(f"organization {org!r} is not SYSTEM|VALUE")
    scopes = scope_rules.split(new.scopes)
    if not scopes:
        raise ClientError("a client needs at least one scope (--scope)")
    for s in scopes:
        if not scope_rules.is_known(s):
            raise ClientError(
                f"scope {s!r} is not one fhirauth grants: use system/<Resource>.<read|write|*|"
                f"cruds letters> or {scope_rules.ADMIN_SCOPE}"
            )
    return NewClient(
        name,
        tuple(dict.fromkeys(new.organizations)),
        tuple(scopes),
        jwks,
        new.jwks_url,
        check_sender_ids(new.sender_ids),
    )


def add(session: Session, new: NewClient, now: datetime, client_id: str | None = None) -> Client:
    new = check(new)
    client = Client(
        id=client_id or uuid.uuid4().hex,
        name=new.name,
        jwks=new.jwks,
        jwks_url=new.jwks_url,
        organizations=list(new.organizations),
        sender_ids=list(new.sender_ids),
        scopes=list(new.scopes),
        enabled=True,
        created_at=now,
        disabled_at=None,
    )
    session.add(client)
    session.flush()
    return client


def get(session: Session, client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    return session.get(Client, client_id)


ENABLED_FRESH_FOR = 1.0  # seconds a worker trusts what it last read of a client's state

_enabled: dict[tuple[object, str], tuple[bool, float]] = {}
_enabled_lock = threading.Lock()


def is_enabled(session: Session, client_id: str) -> bool:
    """Whether a registered client may act now. Asked on every authenticated request, where
    the query cost as much as 15 % of a read, so each worker remembers the answer for
    ``ENABLED_FRESH_FOR`` seconds (monotonic time: how fresh a cache is, not what the clock
    of the business says): ``fhirauth clients disable`` shuts a client out of every worker
    within a second, and at once in the process that disabled it (``set_enabled``)."""
    if not client_id or len(client_id) > 64:
        return False
    key = (session.get_bind(), client_id)
    now = time.monotonic()
    with _enabled_lock:
        known = _enabled.get(key)
    if known is not None and now - known[1] < ENABLED_FRESH_FOR:
        return known[0]
    enabled = bool(session.scalar(select(Client.enabled).where(Client.id == client_id)))
    with _enabled_lock:
        if len(_enabled) > 4096:  # ids come from verified tokens alone; still, stay bounded
            _enabled.clear()
        _enabled[key] = (enabled, now)
    return enabled


def _forget_enabled(client_id: str) -> None:
    with _enabled_lock:
        for key in [k for k in _enabled if k[1] == client_id]:
            del _enabled[key]


def all_clients(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.created_at, Client.id)))


def set_enabled(session: Session, client_id: str, enabled: bool, now: datetime) -> Client:
    client = get(session, client_id)
    if client is None:
        raise ClientError(f"no client {client_id}")
    client.enabled = enabled
    client.disabled_at = None if enabled else now
    _forget_enabled(client_id)
    return client


def change_sender_ids(
    session: Session, client_id: str, add: tuple[str, ...], remove: tuple[str, ...]
) -> Client:
    """Register more sender ids to a client, or take some away."""
    client = get(session, client_id)
    if client is None:
        raise ClientError(f"no client {client_id}")
    added = check_sender_ids(add)
    kept = [s for s in client.sender_ids or [] if s not in remove]
    client.sender_ids = list(dict.fromkeys([*kept, *added]))
    return client
