"""``audit.record``: one INSERT per request, the ClaimResponse's authorization looked up only
when the route did not say which it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select

from fhirauth.auth import audit
from fhirauth.operations import pipeline
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord, Authorization
from tests.conftest import EXAMPLES, NOW

FHIR_JSON = "application/fhir+json"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block (their first word)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def last_row(services: Services) -> AuditRecord:
    with services.sessions() as session:
        return session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()


def submitted(client: FlaskClient, base: str = "/fhir") -> str:
    """Submit an example: the ClaimResponse id answered."""
    resp = client.post(
        f"{base}/Claim/$submit",
        data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
        content_type=FHIR_JSON,
    )
    assert resp.status_code == 200
    cr_id: str = resp.get_json()["entry"][0]["resource"]["id"]
    return cr_id


def authorization_of(services: Services, cr_id: str) -> str:
    with services.sessions() as session:
        found = session.scalar(
            select(Authorization.id).where(Authorization.claim_response_id == cr_id)
        )
    assert found is not None
    return found


def test_a_row_is_one_insert_when_the_authorization_is_known(services: Services) -> None:
    entry = audit.Entry(
        "anonymous",
        "POST",
        "/fhir/Claim/$submit",
        200,
        entities=["ClaimResponse/cr1"],
        authorizations={"cr1": "auth1"},
    )
    with statements(services.engine) as sql:
        audit.record(services.engine, entry, NOW)
    assert sql == ["INSERT"]
    assert last_row(services).entities == ["ClaimResponse/cr1", "authorization/auth1"]


def test_an_unknown_authorization_is_looked_up(client: FlaskClient, services: Services) -> None:
    cr_id = submitted(client)
    auth_id = authorization_of(services, cr_id)
    entry = audit.Entry(
        "anonymous", "GET", "/x", 200, entities=[f"ClaimResponse/{cr_id}", "ClaimResponse/none"]
    )
    with statements(services.engine) as sql:
        audit.record(services.engine, entry, NOW)
    assert sql == ["SELECT", "INSERT"]
    assert last_row(services).entities == [
        f"ClaimResponse/{cr_id}",
        "ClaimResponse/none",
        f"authorization/{auth_id}",
    ]


def test_submit_read_and_replay_audit_in_their_own_transaction_without_a_lookup(
    client: FlaskClient, services: Services
) -> None:
    """The row of a submit, a read and a replay goes in with the statement that found or
    stored what it names: one INSERT beside the request's own SELECT, no query to look up the
    authorization, no second transaction."""
    cr_id = submitted(client)
    auth_id = authorization_of(services, cr_id)
    expected = [f"ClaimResponse/{cr_id}", f"authorization/{auth_id}"]
    assert last_row(services).entities == expected
    with statements(services.engine) as sql:
        assert client.get(f"/fhir/ClaimResponse/{cr_id}").status_code == 200
    assert sql == ["SELECT", "INSERT"]
    assert last_row(services).entities == expected
    # Replayed, through either base: the same.
    for base in ("/fhir", "/fhir/pas/v2.0.1"):
        with statements(services.engine) as sql:
            assert submitted(client, base) == cr_id
        assert sql == ["SELECT", "INSERT"]
        assert last_row(services).entities == expected


def test_a_refused_read_is_audited_as_before(client: FlaskClient, services: Services) -> None:
    assert client.get("/fhir/ClaimResponse/unknown").status_code == 404
    row = last_row(services)
    assert (row.status, row.entities) == (404, ["ClaimResponse/unknown"])


def rows(services: Services) -> int:
    with services.sessions() as session:
        return len(session.scalars(select(AuditRecord.id)).all())


def test_public_documents_are_not_audited_but_a_token_request_is(
    client: FlaskClient, services: Services
) -> None:
    before = rows(services)
    for path in ("/fhir/metadata", "/.well-known/smart-configuration", "/", "/fhir"):
        assert client.get(path).status_code in (200, 302, 308), path
    assert rows(services) == before
    assert client.post("/auth/token", data={"grant_type": "client_credentials"}).status_code == 400
    assert rows(services) == before + 1
    assert last_row(services).route == "/auth/token"


def test_a_new_submission_and_its_audit_row_are_one_commit(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_after_the_answer(*_: Any) -> None:
        raise AssertionError("written after the answer, in a transaction of its own")

    monkeypatch.setattr(audit, "record", not_after_the_answer)
    cr_id = submitted(client)
    row = last_row(services)
    assert (row.method, row.route, row.status, row.agent) == (
        "POST",
        "/fhir/Claim/$submit",
        200,
        "anonymous",
    )
    assert row.entities == [
        f"ClaimResponse/{cr_id}",
        f"authorization/{authorization_of(services, cr_id)}",
    ]


def test_when_storing_fails_neither_the_authorization_nor_its_200_row_remains(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails_after_the_rows_are_written(*_: Any, **__: Any) -> None:
        raise RuntimeError("the process fails before the commit")

    monkeypatch.setattr(pipeline.log, "info", fails_after_the_rows_are_written)
    resp = client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
        content_type=FHIR_JSON,
    )
    assert resp.status_code == 500
    with services.sessions() as session:
        assert session.scalars(select(Authorization.id)).all() == []
        statuses = session.scalars(select(AuditRecord.status)).all()
    assert statuses == [500]  # written by the API once the operation's transaction rolled back
