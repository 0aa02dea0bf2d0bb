"""Decisions ↔ rows: what is stored of an item so a later version can answer it again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from itertools import groupby
from typing import Any

import orjson
from sqlalchemy import Table, inspect
from sqlalchemy.orm import Mapper, Session

from fhirauth.decision.decide import CERTIFIED, ItemDecision
from fhirauth.decision.lifecycle import stored_status
from fhirauth.decision.outcomes import determination
from fhirauth.fhir.bundle import PasRequest
from fhirauth.principal import Principal
from fhirauth.store.models import (
    Authorization,
    AuthorizationItem,
    Base,
    DecisionEvent,
    Submission,
)


def fill_item(
    row: AuthorizationItem,
    d: ItemDecision,
    content: dict[str, Any] | None,
    codes: tuple[tuple[str, str], ...],
) -> AuthorizationItem:
    system, code = codes[0] if codes else (None, None)
    row.sequence = d.sequence
    row.code_system, row.code = system, code
    row.review_action = d.action
    row.authorization_number = d.number
    row.period_start, row.period_end = d.period or (None, None)
    row.issue_date = d.issue_date
    row.reason_code, row.reason = d.reason_code, d.reason
    row.rule_id = d.rule_id
    authorized = d.authorized_quantity
    if authorized is None and d.certified:
        # What was certified is what was asked for, unless the decision says otherwise.
        authorized = requested_quantity(content if content is not None else row.content)
    row.authorized_quantity = str(authorized) if authorized is not None else None
    row.requested_start, row.requested_end = d.requested or (None, None)
    row.recommendation = d.recommendation
    row.requested_documents = [
        {"code": m.code, "questionnaire": m.questionnaire, "description": m.description}
        for m in d.missing
    ] or None
    if content is not None:
        row.content = content
    refresh_status(row)
    return row


def decimal_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def requested_quantity(item: dict[str, Any] | None) -> Decimal | None:
    """The quantity a Claim.item asks for (its ``quantity.value``)."""
    quantity = (item or {}).get("quantity")
    return decimal_or_none(quantity.get("value")) if isinstance(quantity, dict) else None


def refresh_status(row: AuthorizationItem) -> None:
    """Keep the item's lifecycle status (decision/lifecycle.py) in step with its decision."""
    row.status = stored_status(
        row.review_action,
        row.authorization_number,
        decimal_or_none(row.authorized_quantity),
        decimal_or_none(row.used_quantity),
        row.superseded_by,
    )


def stored_decision(row: AuthorizationItem) -> ItemDecision:
    """The item's current decision, as the last ClaimResponse version answered it."""
    return ItemDecision(
        sequence=row.sequence,
        action=row.review_action,
        rule_id=row.rule_id,
        number=row.authorization_number,
        period=(row.period_start, row.period_end) if row.period_start and row.period_end else None,
        issue_date=row.issue_date,
        reason_code=row.reason_code,
        reason=row.reason,
        requested=(row.requested_start, row.requested_end)
        if row.requested_start and row.requested_end
        else None,
        recommendation=row.recommendation,
        authorized_quantity=Decimal(row.authorized_quantity) if row.authorized_quantity else None,
    )


def status_of(actions: list[str]) -> str:
    if actions and all(a == "C" for a in actions):
        return "cancelled"
    if any(a == "A4" for a in actions):
        return "pended"
    if actions and all(a == "A3" for a in actions):
        return "denied"
    return "decided"


def determine(
    auth: Authorization, actions: list[str], now: datetime, *, again: bool = False
) -> None:
    """Record the request's determination for the CMS metrics once nothing of it is pended:
    the first time its status leaves pended (``determined_at`` is never moved after), and
    with ``again`` (a reviewer deciding after a reopen, outside any appeal) its outcome
    anew. A refused, cancelled or wholly withdrawn request has none."""
    if auth.status in ("pended", "error", "cancelled"):
        return
    outcome = determination(actions)
    if outcome is None or (auth.determined_at is not None and not again):
        return
    auth.determined_at = auth.determined_at or now
    auth.determination = outcome


def is_certified(action: str) -> bool:
    return action in CERTIFIED


def _ident(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict) or not value.get("value"):
        return None
    return f"{value.get('system', '')}|{value['value']}"


def claim_identifiers(claim: dict[str, Any]) -> list[str]:
    return [i for i in (_ident(x) for x in claim.get("identifier") or []) if i]


def provider_identifier(req: PasRequest) -> str | None:
    """The submitting organization, by its first identifier (an NPI, usually)."""
    return _ident(req.provider.resource.get("identifier"))


def submission_row(
    *,
    submission_id: str,
    auth_id: str,
    principal: Principal,
    digest: str,
    kind: str,
    req: PasRequest,
    body: bytes | dict[str, Any],
    claim_id: str,
    member: str | None,
    received: datetime,
    version: int,
) -> Submission:
    return Submission(
        id=submission_id,
        authorization_id=auth_id,
        principal=principal.id,
        content_hash=digest,
        kind=kind,
        bundle_identifier=_ident(req.bundle.get("identifier")),
        claim_identifier=_ident(req.claim.resource.get("identifier")),
        member_id=member,
        provider_identifier=provider_identifier(req),
        claim_id=claim_id,
        claim=req.claim.resource,
        raw=body if isinstance(body, bytes) else orjson.dumps(body),
        warnings={
            "issues": [
                {"code": w.code, "diagnostics": w.diagnostics, "expression": list(w.expression)}
                for w in req.warnings
            ]
        },
        received_at=received,
        response_version=version,
    )


def item_event(
    auth_id: str, d: ItemDecision, at: datetime, actor: str | None = None
) -> DecisionEvent:
    trace = dict(d.trace)
    if d.recommendation:
        trace.setdefault("recommendation", d.recommendation)
    return DecisionEvent(
        authorization_id=auth_id,
        item_sequence=d.sequence,
        at=at,
        actor=actor or (f"rule:{d.rule_id}" if d.rule_id else f"policy:{trace.get('policy')}"),
        action=d.action,
        reason_code=d.reason_code,
        note=d.reason,
        trace=trace,
    )


def error_event(
    auth_id: str, code: str, text: str, path: str | None, at: datetime
) -> DecisionEvent:
    return DecisionEvent(
        authorization_id=auth_id,
        item_sequence=None,
        at=at,
        actor="payer",
        action="ERR",
        reason_code=code,
        note=text,
        trace={"error": text, "path": path},
    )


def insert_new(session: Session, rows: Sequence[Base]) -> None:
    """INSERT new ``rows`` in the order given, one statement (an executemany) per run of rows
    of one table with the same columns set: the rows a new authorization is stored as.

    Each row is written as a flush would write it, from the columns set on it (a column never
    set is left to its default); but the rows do not join the session, and no flush orders
    them. The order given is what satisfies foreign keys that no relationship declares (a
    Submission's authorization, a ClaimResponseVersion's submission), which a flush would
    sort by class name; and rows of a table with a generated key (DecisionEvent) go in one
    statement, which a flush, reading each key back, cannot do on SQLite.
    """
    connection = session.connection()
    values = [_insert_values(row) for row in rows]
    for (table, _), run in groupby(values, key=lambda v: (v[0], tuple(v[1]))):
        connection.execute(table.insert(), [params for _, params in run])


def _insert_values(row: Base) -> tuple[Table, dict[str, Any]]:
    state = inspect(row)
    table, columns = _columns(state.mapper)
    params = {}
    for key, name, defaulted in columns:
        if key in state.dict:
            value = state.dict[key]
            # As a flush does: None for a column with a default means the default (JSON
            # aside, whose None is the JSON null).
            if value is not None or not defaulted:
                params[name] = value
    return table, params


@cache
def _columns(mapper: Mapper[Any]) -> tuple[Table, tuple[tuple[str, str, bool], ...]]:
    """A mapped class's table and its columns: attribute, column name, and whether a None
    set on it leaves the column to its default."""
    out = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        has_default = column.default is not None or column.server_default is not None
        out.append((prop.key, column.key, has_default and not column.type.should_evaluate_none))
    return mapper.local_table, tuple(out)
