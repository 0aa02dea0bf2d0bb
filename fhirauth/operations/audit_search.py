"""``GET /fhir/AuditEvent``: the audit trail as a searchset Bundle (admin scope).

Search parameters: ``date`` (repeatable, with ``ge``, ``gt``, ``le``, ``lt`` or ``eq``; a day or
a date-time), ``agent`` (client ids, comma-separated, or ``anonymous``) and ``_count``
(default 50, at most 1000). Newest first.

Paging: a page that is not the last has a ``next`` link, the same search with ``_cursor`` set
to where the page ended (the time and id of its last event, opaque to clients). A cursor is a
position, not an offset, so events recorded meanwhile never shift a page or repeat an event.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from fhirauth.auth import audit
from fhirauth.errors import NotFound, invalid
from fhirauth.store.models import AuditRecord

DEFAULT_COUNT = 50
MAX_COUNT = 1000
_PREFIXES = ("ge", "gt", "le", "lt", "eq")


def parse_when(text: str) -> tuple[datetime, datetime]:
    """The instant range a FHIR date or dateTime covers: [start, end). A dateTime without a
    zone is taken as UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), UTC)
            return start, start + timedelta(days=1)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"date {text[:40]!r} is not a FHIR date or dateTime", "date") from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at, at + (timedelta(seconds=1) if at.microsecond == 0 else timedelta(microseconds=1))


def date_bounds(
    values: list[str],
) -> tuple[list[tuple[datetime, bool]], list[tuple[datetime, bool]]]:
    after: list[tuple[datetime, bool]] = []
    before: list[tuple[datetime, bool]] = []
    for value in values:
        prefix = value[:2] if value[:2] in _PREFIXES else "eq"
        start, end = parse_when(value[2:] if value[:2] in _PREFIXES else value)
        if prefix in ("ge", "eq"):
            after.append((start, True))
        if prefix == "gt":
            after.append((end, True))
        if prefix in ("le", "eq"):
            before.append((end, False))
        if prefix == "lt":
            before.append((start, False))
    return after, before


def _count(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit():
        raise invalid("_count must be a whole number", "_count")
    return min(int(raw), MAX_COUNT)


def encode_cursor(row: AuditRecord) -> str:
    """Where a page ended: the last event's time and id, base64url."""
    raw = f"{row.recorded_at.astimezone(UTC).isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def after_cursor(stmt: Select[tuple[AuditRecord]], cursor: str) -> Select[tuple[AuditRecord]]:
    """``stmt`` (newest first) narrowed to the events after ``cursor``'s position."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.rpartition("|")
        at, last = datetime.fromisoformat(when), int(ident)
        if at.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("_cursor is not one this server gave out", "_cursor") from None
    return stmt.where(
        or_(
            AuditRecord.recorded_at < at,
            and_(AuditRecord.recorded_at == at, AuditRecord.id < last),
        )
    )


def _page_url(base: str, kept: list[tuple[str, str]], cursor: str | None) -> str:
    params = [(k, v) for k, v in kept if k != "_cursor"]
    if cursor:
        params.append(("_cursor", cursor))
    return f"{base}/AuditEvent?{urlencode(params)}".rstrip("?")


def search(session: Session, params: list[tuple[str, str]], base: str) -> dict[str, Any]:
    """The searchset Bundle for the query ``params`` (name, value pairs as sent)."""

    def every(name: str) -> list[str]:
        return [v for k, v in params if k == name]

    after, before = date_bounds(every("date"))
    agents = [
        a.split("|", 1)[-1] for value in every("agent") for a in value.split(",") if a.strip()
    ]
    count = _count(next(iter(every("_count")), None))
    stmt = audit.query(after=after, before=before, agents=agents)
    cursor = next(iter(every("_cursor")), None)
    page = after_cursor(stmt, cursor) if cursor else stmt
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(session.scalars(page.limit(count + 1)))
    more, rows = len(rows) > count, rows[:count]
    names = audit.client_names(session, rows)
    links = [{"relation": "self", "url": _page_url(base, params, cursor)}]
    if cursor:
        links.append({"relation": "first", "url": _page_url(base, params, None)})
    if more and rows:
        links.append({"relation": "next", "url": _page_url(base, params, encode_cursor(rows[-1]))})
    entries = [
        {
            "fullUrl": f"{base}/AuditEvent/{r.id}",
            "resource": audit.to_fhir(r, names),
            "search": {"mode": "match"},
        }
        for r in rows
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": int(total or 0),
        "link": links,
    }
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle


def read(session: Session, event_id: str) -> dict[str, Any]:
    if not event_id.isdigit() or len(event_id) > 18:
        raise NotFound(f"AuditEvent/{event_id[:64]}")
    row = session.get(AuditRecord, int(event_id))
    if row is None:
        raise NotFound(f"AuditEvent/{event_id}")
    return audit.to_fhir(row, audit.client_names(session, [row]))
