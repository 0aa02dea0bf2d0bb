"""operations.pipeline: a new request is stored in one statement per table, in the order its
foreign keys need, with the rows a flush would have written."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event, text

from fhirauth.fhir.bundle import parse_request
from fhirauth.operations.pipeline import decide_new
from fhirauth.principal import ANONYMOUS
from fhirauth.services import Services
from fhirauth.store.models import Authorization, AuthorizationItem, Base, DecisionEvent
from fhirauth.store.records import insert_new
from tests.conftest import EXAMPLES

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def _statements(services: Services) -> list[str]:
    seen: list[str] = []

    @event.listens_for(services.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    return seen


def test_a_new_request_is_stored_in_one_statement_per_table(services: Services) -> None:
    body = (EXAMPLES / "mixed-outcomes.json").read_bytes()
    req = parse_request(body)
    seen = _statements(services)
    with services.sessions.begin() as session:
        auth_id, _ = decide_new(session, req, body, "digest", ANONYMOUS, services, NOW, None)
    # No SELECT, no row at a time: each table's rows in one statement, parents first.
    assert [re.sub(r'^INSERT INTO "?(\w+)"? .*', r"\1", s) for s in seen] == [
        "authorization",
        "authorization_item",
        "submission",
        "claim_response_version",
        "decision_event",
    ]
    with services.sessions() as session:
        auth = session.get(Authorization, auth_id)
        assert auth is not None
        assert [i.sequence for i in auth.items] == [1, 2, 3, 4]
        events = session.query(DecisionEvent).order_by(DecisionEvent.id).all()
        assert [(e.item_sequence, e.action) for e in events] == [
            (i.sequence, i.review_action) for i in auth.items
        ]


def _rows(services: Services, table: str, key: str, value: str) -> list[tuple[Any, ...]]:
    with services.engine.connect() as conn:
        rows = conn.execute(text(f'SELECT * FROM "{table}" WHERE {key} = :v'), {"v": value})
        return [tuple(r) for r in rows]


def _new_rows(auth_id: str) -> list[Base]:
    auth = Authorization(
        id=auth_id,
        pre_auth_ref=None,
        claim_response_id=f"cr-{auth_id}",
        principal="p",
        policy_id="x",
        status="pended",
        expedited=None,  # None on a column with a default: the default
        current_version=1,
        received_at=NOW,
        updated_at=NOW,
    )
    item = AuthorizationItem(
        authorization_id=auth_id,
        sequence=1,
        review_action="A4",
        reason=None,
        period_start=date(2026, 12, 1),
        content={"sequence": 1},
        requested_documents=None,  # JSON: None is the JSON null, not SQL NULL
    )
    event_ = DecisionEvent(
        authorization_id=auth_id,
        item_sequence=1,
        at=NOW,
        actor="rule:x",
        action="A4",
        reason_code=None,
        note=None,
        trace={"why": "because"},
    )
    return [auth, item, event_]


def test_rows_are_written_as_a_flush_writes_them(services: Services) -> None:
    with services.sessions.begin() as session:
        session.add_all(_new_rows("flushed"))
    with services.sessions.begin() as session:
        insert_new(session, _new_rows("inserted"))
    for table, key in (
        ("authorization", "id"),
        ("authorization_item", "authorization_id"),
        ("decision_event", "authorization_id"),
    ):
        flushed = _rows(services, table, key, "flushed")
        inserted = _rows(services, table, key, "inserted")
        assert len(flushed) == len(inserted) == 1

        def same(row: tuple[Any, ...]) -> list[Any]:
            return [v for v in row if v not in ("flushed", "inserted", "cr-flushed", "cr-inserted")]

        if table == "decision_event":  # its own generated key aside
            assert same(flushed[0])[1:] == same(inserted[0])[1:]
        else:
            assert same(flushed[0]) == same(inserted[0])
