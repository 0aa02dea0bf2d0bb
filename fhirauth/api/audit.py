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
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, current_app, request
from sqlalchemy import Select, and_, func, or_, select

from fhirauth.api.errors import FHIR_JSON
from fhirauth.auth import audit
from fhirauth.errors import NotFound, invalid
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord

bp = Blueprint("audit", __name__, url_prefix="/fhir")

DEFAULT_COUNT = 50
MAX_COUNT = 1000
_PREFIXES = ("ge", "gt", "le", "lt", "eq")


def services() -> Services:
    return current_app.extensions["fhirauth"]


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


def _count() -> int:
    raw = request.args.get("_count")
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


def _fhir(body: object) -> Response:
    return Response(orjson.dumps(body), mimetype=FHIR_JSON)


@bp.get("/AuditEvent")
def search() -> Response:
    svc = services()
    after, before = date_bounds(request.args.getlist("date"))
    agents = [
        a.split("|", 1)[-1]
        for value in request.args.getlist("agent")
        for a in value.split(",")
        if a.strip()
    ]
    count = _count()
    stmt = audit.query(after=after, before=before, agents=agents)
    cursor = request.args.get("_cursor")
    page = after_cursor(stmt, cursor) if cursor else stmt
    with svc.sessions() as session:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = list(session.scalars(page.limit(count + 1)))
        more, rows = len(rows) > count, rows[:count]
        names = audit.client_names(session, rows)
    base = svc.settings.base_url
    kept = [(k, v) for k, vs in request.args.lists() for v in vs]
    links = [{"relation": "self", "url": _page_url(base, kept, cursor)}]
    if cursor:
        links.append({"relation": "first", "url": _page_url(base, kept, None)})
    if more and rows:
        links.append({"relation": "next", "url": _page_url(base, kept, encode_cursor(rows[-1]))})
    entries = [
        {
            "fullUrl": f"{base}/AuditEvent/{r.id}",
            "resource": audit.to_fhir(r, names),
            "search": {"mode": "match"},
        }
        for r in rows
    ]
    bundle: dict[str, object] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": int(total or 0),
        "link": links,
    }
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return _fhir(bundle)


@bp.get("/AuditEvent/<event_id>")
def read(event_id: str) -> Response:
    if not event_id.isdigit() or len(event_id) > 18:
        raise NotFound(f"AuditEvent/{event_id[:64]}")
    with services().sessions() as session:
        row = session.get(AuditRecord, int(event_id))
        if row is None:
            raise NotFound(f"AuditEvent/{event_id}")
        return _fhir(audit.to_fhir(row, audit.client_names(session, [row])))
