"""Reports for the payer's staff, read from the store: authorizations about to end, and the
rows CMS-0057-F's yearly metrics are computed from (``decision/metrics.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.decision.lifecycle import ACTIVE, remaining
from fhirauth.decision.metrics import RequestRow
from fhirauth.store.models import Appeal, Authorization, AuthorizationItem, Submission
from fhirauth.store.records import decimal_or_none


def _units(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def expiring(session: Session, today: date, horizon: date) -> list[dict[str, Any]]:
    """Active authorized items whose certified period ends from ``today`` to ``horizon``,
    soonest first, each with the units authorized, used and left, and the requesting
    provider (who to remind)."""
    rows = session.execute(
        select(AuthorizationItem, Authorization)
        .join(Authorization, Authorization.id == AuthorizationItem.authorization_id)
        .where(
            AuthorizationItem.status == ACTIVE,
            AuthorizationItem.period_end >= today,
            AuthorizationItem.period_end <= horizon,
        )
        .order_by(AuthorizationItem.period_end, AuthorizationItem.authorization_number)
    ).all()
    out = []
    for item, auth in rows:
        provider = session.scalars(
            select(Submission.provider_identifier)
            .where(Submission.authorization_id == auth.id)
            .order_by(Submission.received_at.desc())
        ).first()
        authorized = decimal_or_none(item.authorized_quantity)
        used = decimal_or_none(item.used_quantity) or Decimal(0)
        out.append(
            {
                "preAuthRef": auth.pre_auth_ref,
                "authorizationNumber": item.authorization_number,
                "code": f"{item.code_system}|{item.code}" if item.code else None,
                "start": item.period_start.isoformat() if item.period_start else None,
                "end": item.period_end.isoformat() if item.period_end else None,
                "daysLeft": (item.period_end - today).days if item.period_end else None,
                "authorized": _units(authorized),
                "used": _units(used),
                "remaining": _units(remaining(authorized, used)),
                "provider": provider,
                "renews": auth.renews,
            }
        )
    return out


def horizon_of(today: date, days: int) -> date:
    return today + timedelta(days=days)


def metric_rows(session: Session, year: int, policy: str | None = None) -> list[RequestRow]:
    """Every request received in ``year`` (UTC), of one policy (plan) if given, with its
    latest decided appeal's outcome and its open appeal."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    where = [Authorization.received_at >= start, Authorization.received_at < end]
    if policy is not None:
        where.append(Authorization.policy_id == policy)
    in_year = select(Authorization.id).where(*where)
    decided: dict[str, str] = {}
    opened: dict[str, tuple[datetime, datetime]] = {}
    for auth_id, outcome, received, due, decided_at in session.execute(
        select(
            Appeal.authorization_id,
            Appeal.outcome,
            Appeal.received_at,
            Appeal.due_at,
            Appeal.decided_at,
        )
        .where(Appeal.authorization_id.in_(in_year))
        .order_by(Appeal.received_at, Appeal.id)
    ):
        if decided_at is None:
            opened[auth_id] = (received, due)
        elif outcome is not None:
            decided[auth_id] = outcome  # the latest decided wins
    return [
        RequestRow(
            id=row.id,
            pre_auth_ref=row.pre_auth_ref,
            expedited=row.expedited,
            status=row.status,
            received_at=row.received_at,
            due_at=row.due_at,
            determined_at=row.determined_at,
            determination=row.determination,
            review_extended=row.review_extended_at is not None,
            appeal_outcome=decided.get(row.id),
            open_appeal=opened.get(row.id),
        )
        for row in session.execute(
            select(
                Authorization.id,
                Authorization.pre_auth_ref,
                Authorization.expedited,
                Authorization.status,
                Authorization.received_at,
                Authorization.due_at,
                Authorization.determined_at,
                Authorization.determination,
                Authorization.review_extended_at,
            )
            .where(*where)
            .order_by(Authorization.received_at, Authorization.id)
        )
    ]
