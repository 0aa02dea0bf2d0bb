"""The console's review queue: the pended authorizations by the time their decision is due (under
the clock each runs on: an open appeal's, else the request's, as ``review.queue`` has them),
each with what a reviewer picks a case by (the services pending, the requesting provider, who
it is assigned to, the clock that remains), filtered by expedited, service code, provider and
reviewer. Nothing here names the patient: filter values end up in URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.errors import Invalid
from fhirauth.fhir import display
from fhirauth.fhir.bundle import parse_bundle, request_bundle
from fhirauth.operations import review
from fhirauth.store.models import Authorization

UNASSIGNED = "-"  # the reviewer filter's value for cases nobody is assigned to


@dataclass(frozen=True)
class Filters:
    expedited: bool = False
    service: str | None = None  # an item code, with or without its system (``cpt|70551``)
    provider: str | None = None  # the provider identifier as stored, or its value (an NPI)
    reviewer: str | None = None  # a staff username, or UNASSIGNED

    @property
    def active(self) -> bool:
        return bool(self.expedited or self.service or self.provider or self.reviewer)


@dataclass(frozen=True)
class Row:
    id: str
    pre_auth_ref: str | None
    received: datetime
    due: datetime
    left: str
    urgency: str  # on-time | due-soon | overdue (decision/clocks.py)
    expedited: bool
    appeal: bool
    documentation_received: bool
    services: tuple[str, ...]  # the pending items' codes, system|code
    provider: str | None  # the requesting provider's identifier, system|value
    provider_name: str | None
    assigned_to: str | None

    @property
    def overdue(self) -> bool:
        return self.urgency == "overdue"


@dataclass(frozen=True)
class Worklist:
    rows: list[Row]
    total: int  # pended in all, before the filters
    # What the filters can choose from: every value found in the whole queue.
    services: list[str] = field(default_factory=list)
    providers: list[tuple[str, str]] = field(default_factory=list)  # (identifier, label)
    reviewers: list[str] = field(default_factory=list)


def remaining(due: datetime, now: datetime) -> str:
    """The clock that remains, as a reviewer reads it: "5 h 12 min left", "overdue by 3 h"."""
    minutes = int((due - now).total_seconds() // 60)
    span = abs(minutes)
    days, rest = divmod(span, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {mins} min" if mins else f"{hours} h"
    else:
        text = f"{mins} min"
    return f"{text} left" if minutes > 0 else f"overdue by {text}" if minutes < 0 else "due now"


def code_matches(wanted: str, key: str) -> bool:
    """Does an item code (``system|code``) match a filter given with or without its system?"""
    return wanted == key or ("|" not in wanted and key.rsplit("|", 1)[-1] == wanted)


def provider_matches(wanted: str, identifier: str | None) -> bool:
    return identifier is not None and (
        wanted == identifier or ("|" not in wanted and identifier.rsplit("|", 1)[-1] == wanted)
    )


def keep(row: Row, filters: Filters) -> bool:
    if filters.expedited and not row.expedited:
        return False
    if filters.service and not any(code_matches(filters.service, s) for s in row.services):
        return False
    if filters.provider and not provider_matches(filters.provider, row.provider):
        return False
    if filters.reviewer:
        wanted = None if filters.reviewer == UNASSIGNED else filters.reviewer
        if row.assigned_to != wanted:
            return False
    return True


def provider_name(raw: bytes) -> str | None:
    """The requesting provider's name as the stored request gives it (Claim.provider)."""
    try:
        req = parse_bundle(request_bundle(raw), models=False)
    except Invalid:
        return None
    return display.provider_name(req)


def _row(
    case: dict[str, Any],
    auth: Authorization,
    session: Session,
    now: datetime,
    names: dict[str, str | None],
) -> Row:
    sub = review.latest_submission(session, auth)
    # One provider sends many requests: its name is read from the first of them only.
    key = sub.provider_identifier or f"submission:{sub.id}"
    if key not in names:
        names[key] = provider_name(sub.raw)
    due = datetime.fromisoformat(case["dueAt"])
    return Row(
        id=auth.id,
        pre_auth_ref=auth.pre_auth_ref,
        received=datetime.fromisoformat(case["receivedAt"]),
        due=due,
        left=remaining(due, now),
        urgency=case["urgency"],
        expedited=case["expedited"],
        appeal=case["appeal"] is not None,
        documentation_received=auth.documentation_received_at is not None,
        services=tuple(
            f"{i.code_system}|{i.code}" if i.code_system else i.code
            for i in auth.items
            if i.review_action == review.PENDED and i.code
        ),
        provider=sub.provider_identifier,
        provider_name=names[key],
        assigned_to=auth.assigned_to,
    )


def worklist(session: Session, now: datetime, filters: Filters | None = None) -> Worklist:
    """The pended queue, soonest due first, narrowed by ``filters``."""
    cases = review.queue(session, now)["pended"]
    auths = {
        a.id: a
        for a in session.scalars(
            select(Authorization).where(Authorization.id.in_([c["id"] for c in cases]))
        )
    }
    names: dict[str, str | None] = {}
    every = [_row(c, auths[c["id"]], session, now, names) for c in cases]
    chosen = filters or Filters()
    providers = {r.provider: r.provider_name for r in every if r.provider}
    return Worklist(
        rows=[r for r in every if keep(r, chosen)],
        total=len(every),
        services=sorted({s for r in every for s in r.services}),
        providers=sorted(
            (
                (ident, f"{name} ({ident.rsplit('|', 1)[-1]})" if name else ident)
                for ident, name in providers.items()
            ),
            key=lambda p: p[1].lower(),
        ),
        reviewers=sorted({r.assigned_to for r in every if r.assigned_to}),
    )
