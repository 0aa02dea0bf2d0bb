"""The audit trail: one row per request, rendered as FHIR AuditEvents.

A row says who (a client id, or ``anonymous``), what (method and Flask route), when, the
outcome (HTTP status, and for refusals a short reason) and the ids of the resources involved.
Never a request or response body, a query string or patient details (HRex sec-19).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, event, func, insert, or_, select
from sqlalchemy.orm import Session

from fhirauth.store.models import AuditRecord, Authorization, Client

log = logging.getLogger("fhirauth.audit")

ANONYMOUS_AGENT = "anonymous"
CLIENT_SYSTEM = "urn:fhirauth:client"
AUTHORIZATION_SYSTEM = "urn:fhirauth:authorization"
ROUTE_SYSTEM = "urn:fhirauth:route"
MAX_ENTITIES = 20
MAX_ID = 128

# Route variables that name a resource (or, for ``key``, an authorization).
_VIEW_ARGS = {
    "claim_id": "Claim",
    "response_id": "ClaimResponse",
    "sub_id": "Subscription",
    "definition_id": "OperationDefinition",
    "event_id": "AuditEvent",
    "key": "authorization",
}


@dataclass
class Entry:
    agent: str
    method: str
    route: str | None
    status: int
    detail: str | None = None
    entities: list[str] = field(default_factory=list)
    address: str | None = None
    # The authorization of each ClaimResponse named, where the route already knows it
    # (ClaimResponse id → authorization id): then ``record`` need not look it up.
    authorizations: Mapping[str, str] = field(default_factory=dict)


_TABLE = AuditRecord.__table__


@dataclass
class Pending:
    """The audit row of the request being served, until it is written. An operation that
    commits what the request changed writes the row in that same transaction
    (:func:`record_in`), so the change and its audit land together, in one commit; else the
    API writes it after the answer (:func:`record`)."""

    agent: str
    method: str
    route: str | None
    address: str | None
    written: bool = False


_PENDING: ContextVar[Pending | None] = ContextVar("fhirauth_audit_pending", default=None)


def open_request(pending: Pending | None) -> None:
    """The request now being served by this thread (None: none, or not audited here)."""
    _PENDING.set(pending)


def close_request() -> Pending | None:
    """The request's pending row, forgotten: a worker thread serves many requests."""
    pending = _PENDING.get()
    _PENDING.set(None)
    return pending


def tolerated(deviations: int, warnings: int) -> str | None:
    """The detail of a request decided despite what it lacked (never the body itself)."""
    if not deviations and not warnings:
        return None
    return (
        f"decided with {deviations} profile deviations and {warnings} warnings (see the submission)"
    )


def record_in(
    session: Session, entities: list[str], now: datetime, detail: str | None = None
) -> None:
    """Write the pending row in ``session``'s transaction, as a 200 naming ``entities``. It
    counts as written once that transaction commits; after a rollback the API writes it."""
    pending = _PENDING.get()
    if pending is None or pending.written:
        return
    session.connection().execute(
        insert(_TABLE),
        _row(
            pending.agent,
            pending.method,
            pending.route,
            200,
            detail,
            entities,
            pending.address,
            now,
        ),
    )
    session.info["fhirauth_audit"] = pending


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop("fhirauth_audit", None)
    if pending is not None:
        pending.written = True


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop("fhirauth_audit", None)


def _row(
    agent: str,
    method: str,
    route: str | None,
    status: int,
    detail: str | None,
    entities: list[str],
    address: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "recorded_at": now,
        "agent": agent[:128],
        "method": method[:16],
        "route": route[:255] if route else None,
        "status": status,
        "detail": detail[:255] if detail else None,
        "entities": list(dict.fromkeys(entities))[:MAX_ENTITIES],
        "address": address[:64] if address else None,
    }


def record(engine: Engine, entry: Entry, now: datetime) -> None:
    """Write one row in its own short transaction, adding the authorization of each
    ClaimResponse named: one INSERT (SQLAlchemy Core, no ORM session), after one SELECT only
    when a ClaimResponse's authorization is not known already."""
    with engine.begin() as conn:
        responses = [e.split("/", 1)[1] for e in entry.entities if e.startswith("ClaimResponse/")]
        if responses:
            if all(r in entry.authorizations for r in responses):
                found: Iterable[str] = [entry.authorizations[r] for r in responses]
            else:
                found = conn.scalars(
                    select(Authorization.id).where(Authorization.claim_response_id.in_(responses))
                )
            entry.entities += [f"authorization/{a}" for a in found]
        conn.execute(
            insert(_TABLE),
            _row(
                entry.agent,
                entry.method,
                entry.route,
                entry.status,
                entry.detail,
                entry.entities,
                entry.address,
                now,
            ),
        )


def entities_from_route(view_args: Mapping[str, Any] | None) -> list[str]:
    """``Type/id`` for each resource id in the URL (``authorization/<key>`` for admin routes)."""
    out = []
    for name, value in (view_args or {}).items():
        kind = _VIEW_ARGS.get(name)
        if kind and isinstance(value, str) and value and not value.startswith("$"):
            out.append(f"{kind}/{value[:MAX_ID]}")
    return out


def entities_from_answer(body: Any) -> list[str]:
    """The ids a response names: a ClaimResponse in a PAS response Bundle (and in each Bundle
    of an inquiry's Parameters), or the id of a single resource answered."""
    out: list[str] = []

    def resource(node: Any) -> None:
        if not isinstance(node, dict) or len(out) >= MAX_ENTITIES:
            return
        kind, rid = node.get("resourceType"), node.get("id")
        if kind == "Bundle":
            entries = node.get("entry")
            if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                resource(entries[0].get("resource"))
        elif kind == "Parameters":
            for p in node.get("parameter") or []:
                if isinstance(p, dict):
                    resource(p.get("resource"))
        elif (
            kind in ("ClaimResponse", "Subscription", "CoverageEligibilityResponse", "Claim")
            and isinstance(rid, str)
            and rid
        ):
            out.append(f"{kind}/{rid[:MAX_ID]}")

    resource(body)
    return out


def query(
    *,
    after: Iterable[tuple[datetime, bool]] = (),
    before: Iterable[tuple[datetime, bool]] = (),
    agents: Iterable[str] = (),
) -> Select[tuple[AuditRecord]]:
    """Rows, newest first. ``after``/``before`` are (time, inclusive) bounds; ``agents`` ORed."""
    stmt = select(AuditRecord)
    for at, inclusive in after:
        stmt = stmt.where(
            AuditRecord.recorded_at >= at if inclusive else AuditRecord.recorded_at > at
        )
    for at, inclusive in before:
        stmt = stmt.where(
            AuditRecord.recorded_at <= at if inclusive else AuditRecord.recorded_at < at
        )
    names = list(agents)
    if names:
        stmt = stmt.where(or_(*(AuditRecord.agent == a for a in names)))
    return stmt.order_by(AuditRecord.recorded_at.desc(), AuditRecord.id.desc())


def search(
    session: Session, stmt: Select[tuple[AuditRecord]], limit: int
) -> tuple[list[AuditRecord], int]:
    """Up to ``limit`` rows of ``stmt``, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return list(session.scalars(stmt.limit(limit))), int(total or 0)


def client_names(session: Session, records: Iterable[AuditRecord]) -> dict[str, str]:
    ids = {r.agent for r in records if r.agent != ANONYMOUS_AGENT}
    if not ids:
        return {}
    return dict(session.execute(select(Client.id, Client.name).where(Client.id.in_(ids))).all())


def _action(method: str, route: str | None) -> tuple[str, str]:
    """(AuditEvent.action, restful-interaction code) for a request."""
    if route is None:
        return "E", "operation"
    if "$" in route.rsplit("/", 1)[-1]:
        return "E", "operation"
    if route.endswith("/metadata"):
        return "R", "capabilities"
    if method == "POST":
        return "C", "create"
    if method == "PUT":
        return "U", "update"
    if method == "DELETE":
        return "D", "delete"
    return ("R", "read") if route.endswith(">") else ("E", "search-type")


def _outcome(status: int) -> str:
    return "0" if status < 400 else "4" if status < 500 else "8"


def to_fhir(rec: AuditRecord, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A FHIR R4 AuditEvent for one row."""
    action, interaction = _action(rec.method, rec.route)
    who: dict[str, Any]
    if rec.agent == ANONYMOUS_AGENT:
        who = {"display": "anonymous"}
    else:
        who = {"identifier": {"system": CLIENT_SYSTEM, "value": rec.agent}}
        if names and rec.agent in names:
            who["display"] = names[rec.agent]
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if rec.address:
        agent["network"] = {"address": rec.address, "type": "2"}
    route = f"{rec.method} {rec.route}" if rec.route else f"{rec.method} (no such route)"
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(rec.id),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": interaction},
            {"system": ROUTE_SYSTEM, "code": route},
        ],
        "action": action,
        "recorded": rec.recorded_at.isoformat().replace("+00:00", "Z"),
        "outcome": _outcome(rec.status),
        "outcomeDesc": f"HTTP {rec.status}" + (f": {rec.detail}" if rec.detail else ""),
        "agent": [agent],
        "source": {
            "observer": {"display": "fhirauth"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    entities = []
    for ref in rec.entities or []:
        kind, _, value = ref.partition("/")
        if kind == "authorization":
            entities.append(
                {"what": {"identifier": {"system": AUTHORIZATION_SYSTEM, "value": value}}}
            )
        else:
            entities.append({"what": {"reference": ref}})
    if entities:
        event["entity"] = entities
    return event
