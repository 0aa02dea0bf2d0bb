"""Reports for the payer's staff, read from the store: authorizations about to end.

(``report metrics`` and ``report pa-list``, CMS-0057-F's yearly numbers and the list of
services that need authorization, belong here too.)"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhirauth.decision.lifecycle import ACTIVE, remaining
from fhirauth.store.models import Authorization, AuthorizationItem, Submission
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
