"""Every read the PAS operations make of the large tables is an index search, on SQLite and on
PostgreSQL, so that `$inquire`, `GET ClaimResponse`, duplicate replays, updates and the review
queue cost the same at 250,000 stored authorizations as at 1,000. The statements are the ones
the server really runs (captured during requests), each EXPLAINed by the database itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, event

from fhirauth.services import Services
from fhirauth.store.models import Base
from tests.conftest import EXAMPLES

# Tables that grow with every request; the small ones (clients, subscriptions) may be scanned.
LARGE = (
    "authorization",
    "authorization_item",
    "submission",
    "claim_response_version",
    "decision_event",
    "outbox_event",
    "attachment",
)


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def post(client: FlaskClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(path, data=json.dumps(body), content_type="application/fhir+json")
    assert resp.status_code == 200, resp.data[:300]
    return resp.get_json()


@contextmanager
def selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    found: list[tuple[str, Any]] = []

    def seen(_c: Connection, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            found.append((statement, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def full_scans(engine: Engine, statement: str, params: Any) -> list[str]:
    """The large tables the database would read whole to answer ``statement``."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = [
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            ]
            scanned = (re.match(r"SCAN (\w+)", line) for line in plan)
        else:
            # Tables this small would be read whole anyway: ask for the plan an index allows.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", params)]
            scanned = (re.search(r'Seq Scan on "?(\w+)"?', line) for line in plan)
        return [m.group(1) for m in scanned if m and m.group(1) in LARGE]


def test_pas_reads_of_large_tables_are_index_searches(
    client: FlaskClient, services: Services
) -> None:
    for name in ("mixed-outcomes.json", "approve-ct-head.json", "pend-mri-brain.json"):
        post(client, "/fhir/Claim/$submit", load(name))
    answered = post(client, "/fhir/Claim/$submit", load("mixed-outcomes.json"))
    with selects(services.engine) as statements:
        post(client, "/fhir/Claim/$submit", load("mixed-outcomes.json"))  # a duplicate
        post(client, "/fhir/Claim/$inquire", load("inquiry/inquire-ct-head.json"))
        post(client, "/fhir/Claim/$submit", load("updates/pend-mri-brain-update.json"))
        cr_id = answered["entry"][0]["resource"]["id"]
        assert client.get(f"/fhir/ClaimResponse/{cr_id}").status_code == 200
        assert client.get("/admin/review/queue").status_code == 200
    assert len(statements) > 10
    scans = {
        statement: tables
        for statement, params in statements
        if (tables := full_scans(services.engine, statement, params))
    }
    assert scans == {}


def test_the_migrated_schema_is_the_one_the_models_describe(services: Services) -> None:
    with services.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
