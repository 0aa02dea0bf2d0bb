"""What happens to a certified item after the decision: its status, and extensions.

An item that was certified (A1, A2, A6) has a certified period, an authorized quantity and a
status:

- ``active``: it may be used (billed) within its period, up to its units;
- ``exhausted``: every authorized unit was billed;
- ``expired``: its period ended (read off the clock, never stored: see ``effective_status``);
- ``cancelled``: the provider withdrew it (certificationType 3, or infoCancelled);
- ``superseded``: a renewal (certificationType R) certified the service for a new period.

An **extension** (certificationType 4) asks for a longer period or more units under the same
authorization number. The same policy decides it: when the rule still certifies the service,
the period and units are extended as asked, up to the rule's bounds (``valid_for`` from the
first certified day, ``max_units`` in all); without ``valid_for`` an authorization runs no
longer than its approval period, so an extension may add units but no days. Granted in full:
A1; cut to the bounds, or not granted at all: A2, with a sentence saying what stands. An
extension never takes away what was already certified.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from fhirauth.decision.decide import CERTIFIED, ItemDecision
from fhirauth.policy import RuleResult

ACTIVE = "active"
EXPIRED = "expired"
EXHAUSTED = "exhausted"
CANCELLED = "cancelled"
SUPERSEDED = "superseded"
STATUSES = (ACTIVE, EXPIRED, EXHAUSTED, CANCELLED, SUPERSEDED)


def stored_status(
    action: str,
    number: str | None,
    authorized: Decimal | None,
    used: Decimal | None,
    superseded_by: str | None,
) -> str | None:
    """The status kept with an item after a write (``expired`` is the clock's to say)."""
    if action == "C":
        return CANCELLED if number else None
    if action not in CERTIFIED:
        return None
    if superseded_by:
        return SUPERSEDED
    if authorized is not None and used is not None and used >= authorized:
        return EXHAUSTED
    return ACTIVE


def effective_status(stored: str | None, period_end: date | None, today: date) -> str | None:
    """The status as of ``today``: an active or exhausted item whose period has ended is
    expired. (Stored, an "expired" would need something to write it at midnight; read off the
    clock, it is right whenever it is asked.)"""
    if stored in (ACTIVE, EXHAUSTED) and period_end is not None and period_end < today:
        return EXPIRED
    return stored


def remaining(authorized: Decimal | None, used: Decimal | None) -> Decimal | None:
    """Units still to bill; None when the authorization counts no units."""
    if authorized is None:
        return None
    return max(authorized - (used or Decimal(0)), Decimal(0))


def _units(value: Decimal | None) -> str:
    return "no unit limit" if value is None else f"{value.normalize():f} units"


def extend(
    current: ItemDecision,
    result: RuleResult,
    requested: tuple[date, date] | None,
    quantity: Decimal | None,
    today: date,
) -> ItemDecision:
    """The answer to an extension of the certified item ``current``: the period to the
    requested end and the units to the requested quantity (the new total), within the rule's
    bounds; ``result`` is what the policy says of the item as the extension states it."""
    assert current.period is not None, "only a certified item is extended"
    start, end = current.period
    units = current.authorized_quantity
    stands = f"the authorization stands as certified: {start} to {end}, {_units(units)}"
    if result.action not in CERTIFIED:
        why = result.reason or str(result.trace.get("why") or "the plan's criteria are not met")
        return replace(
            current,
            action="A2",
            issue_date=today,
            reason_code=result.reason_code,
            reason=f"The extension was not granted ({why.rstrip('.')}); {stands}.",
            trace={**result.trace, "extension": "not granted"},
        )
    bound = result.valid_for.last_day(start) if result.valid_for else end
    wanted_end = requested[1] if requested else end
    new_end = max(end, min(wanted_end, bound))
    new_units = units
    if quantity is not None:
        allowed = quantity if result.max_units is None else min(quantity, result.max_units)
        new_units = allowed if units is None else max(units, allowed)
    short = []
    if new_end < wanted_end:
        limit = f"valid_for {result.valid_for}" if result.valid_for else "its approval period"
        short.append(f"the period ends on {new_end} ({limit} from {start})")
    if quantity is not None and new_units is not None and new_units < quantity:
        short.append(f"{_units(new_units)} in all (the plan's most for one authorization)")
    trace = {
        **result.trace,
        "extension": {"from": [str(end), str(units)], "to": [str(new_end), str(new_units)]},
    }
    extended = replace(
        current,
        period=(start, new_end),
        authorized_quantity=new_units,
        issue_date=today,
        reason_code=None,
        reason=None,
        trace=trace,
    )
    if not short:
        return replace(extended, action="A1")
    return replace(
        extended,
        action="A2",
        reason_code=result.reason_code,
        reason="Extended as far as the plan allows: " + "; ".join(short) + ".",
    )
