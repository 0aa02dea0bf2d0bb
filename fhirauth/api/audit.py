"""``GET /fhir/AuditEvent``: the audit trail as a searchset Bundle (admin scope).

Search parameters: ``date`` (repeatable, with ``ge``, ``gt``, ``le``, ``lt`` or ``eq``; a day or
a date-time), ``agent`` (client ids, comma-separated, or ``anonymous``) and ``_count``
(default 50, at most 1000). Newest first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, current_app, request

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
    with svc.sessions() as session:
        rows, total = audit.search(session, stmt, count)
        names = audit.client_names(session, rows)
    base = svc.settings.base_url
    kept = [(k, v) for k, vs in request.args.lists() for v in vs]
    return _fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": [
                {"relation": "self", "url": f"{base}/AuditEvent?{urlencode(kept)}".rstrip("?")}
            ],
            "entry": [
                {
                    "fullUrl": f"{base}/AuditEvent/{r.id}",
                    "resource": audit.to_fhir(r, names),
                    "search": {"mode": "match"},
                }
                for r in rows
            ],
        }
    )


@bp.get("/AuditEvent/<event_id>")
def read(event_id: str) -> Response:
    if not event_id.isdigit() or len(event_id) > 18:
        raise NotFound(f"AuditEvent/{event_id[:64]}")
    with services().sessions() as session:
        row = session.get(AuditRecord, int(event_id))
        if row is None:
            raise NotFound(f"AuditEvent/{event_id}")
        return _fhir(audit.to_fhir(row, audit.client_names(session, [row])))
