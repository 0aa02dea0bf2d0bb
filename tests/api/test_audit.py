"""The audit trail: a row per request, allowed or refused; GET /fhir/AuditEvent; fhirauth audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.cli import main
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord, Authorization, Submission
from tests.auth.helpers import Register, TokenFor, assertion, bearer, token_request
from tests.conftest import EXAMPLES

pytest_plugins = ("tests.auth.fixtures",)

FHIR_JSON = "application/fhir+json"


def rows(services: Services) -> list[AuditRecord]:
    with services.sessions() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.id)))


def submit(client: FlaskClient, token: str | None) -> Any:
    return client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
        content_type=FHIR_JSON,
        headers=bearer(token) if token else {},
    )


def search(client: FlaskClient, token: str, query: str = "") -> dict[str, Any]:
    resp = client.get(f"/fhir/AuditEvent{query}", headers=bearer(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    Bundle.model_validate(body)
    for entry in body.get("entry", []):
        AuditEvent.model_validate(entry["resource"])
    return body


def test_allowed_and_refused_requests_are_both_recorded(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    client_id = register()
    token = token_for(client_id)
    ok = submit(secure, token)
    assert ok.status_code == 200
    assert submit(secure, None).status_code == 401
    assert secure.get("/nowhere").status_code == 404
    got = rows(secure_services)
    assert [(r.agent, r.method, r.route, r.status) for r in got] == [
        (client_id, "POST", "/auth/token", 200),
        (client_id, "POST", "/fhir/Claim/$submit", 200),
        ("anonymous", "POST", "/fhir/Claim/$submit", 401),
        ("anonymous", "GET", None, 404),
    ]
    cr = ok.get_json()["entry"][0]["resource"]
    with secure_services.sessions() as session:
        auth_id = session.scalar(select(Authorization.id))
    assert got[1].entities == [f"ClaimResponse/{cr['id']}", f"authorization/{auth_id}"]
    assert got[2].detail == "no access token"
    text = json.dumps([r.__dict__ for r in got], default=str)
    assert "Okafor" not in text and "DHP204417731" not in text  # no patient details


def test_refused_token_requests_say_why(
    secure: FlaskClient, secure_services: Services, keys: Any, register: Register
) -> None:
    client_id = register(scopes=("system/Claim.read",))
    token_request(secure, assertion(keys.rsa, client_id, kid="nope"))
    token_request(secure, assertion(keys.rsa, client_id), "system/fhirauth.admin")
    first, second = rows(secure_services)
    assert first.agent == "anonymous" and first.status == 400
    assert first.detail and "invalid_client" in first.detail and client_id in first.detail
    assert second.agent == client_id and second.detail and "invalid_scope" in second.detail


def test_the_audit_event_endpoint_searches_the_trail(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    admin = register(client_id="admin-client")
    token = token_for(admin)
    assert submit(secure, token).status_code == 200
    assert secure.get("/fhir/Claim/unknown").status_code == 401

    everything = search(secure, token)
    assert everything["type"] == "searchset" and everything["total"] == 3
    events = [e["resource"] for e in everything["entry"]]
    newest, submitted, issued = events
    assert newest["outcome"] == "4" and newest["agent"][0]["who"] == {"display": "anonymous"}
    assert "HTTP 401" in newest["outcomeDesc"]
    assert submitted["action"] == "E" and submitted["outcome"] == "0"
    assert submitted["agent"][0]["who"]["identifier"]["value"] == "admin-client"
    assert submitted["agent"][0]["who"]["display"] == "test client"
    assert {"system": "urn:fhirauth:route", "code": "POST /fhir/Claim/$submit"} in submitted[
        "subtype"
    ]
    assert submitted["entity"][0]["what"]["reference"].startswith("ClaimResponse/")
    assert issued["subtype"][1]["code"] == "POST /auth/token"

    mine = search(secure, token, "?agent=admin-client")
    assert mine["total"] == 3  # the first search is in the trail, this one not yet
    assert search(secure, token, "?agent=anonymous")["total"] == 1
    assert len(search(secure, token, "?_count=2")["entry"]) == 2
    assert search(secure, token, "?date=ge2026-12-01")["total"] >= 5
    assert search(secure, token, "?date=ge2026-12-02")["total"] == 0
    assert search(secure, token, "?date=lt2026-12-01T15:30:00Z")["total"] == 0
    assert search(secure, token, "?date=2026-12-01T15:30:00Z&agent=anonymous")["total"] == 1
    one = events[1]["id"]
    read = secure.get(f"/fhir/AuditEvent/{one}", headers=bearer(token))
    assert read.status_code == 200 and read.get_json() == submitted
    assert (
        secure.get("/fhir/AuditEvent?date=ge-yesterday", headers=bearer(token)).status_code == 400
    )
    assert secure.get("/fhir/AuditEvent/999999", headers=bearer(token)).status_code == 404


def test_a_failed_audit_write_does_not_change_the_answer(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fhirauth.auth import audit

    def broken(*_: Any) -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(audit, "record", broken)
    with caplog.at_level("ERROR", logger="fhirauth.auth"):
        assert client.get("/fhir/ClaimResponse/unknown").status_code == 404
    assert "audit record not written" in caplog.text


def test_fhirauth_audit_prints_the_trail_from_the_database(
    secure: FlaskClient,
    secure_services: Services,
    register: Register,
    token_for: TokenFor,
    runner: CliRunner,
) -> None:
    client_id = register()
    submit(secure, token_for(client_id))
    submit(secure, None)
    settings = secure_services.settings
    where = ["--data-dir", str(settings.data_dir), "--database-url", settings.db_url]
    result = runner.invoke(main, ["audit", *where])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("2026-12-01T15:30:00Z  anonymous  POST /fhir/Claim/$submit  401")
    assert "(no access token)" in lines[0]
    assert f"{client_id}  POST /fhir/Claim/$submit  200  ClaimResponse/" in lines[1]

    only = runner.invoke(main, ["audit", *where, "--client", client_id, "--limit", "1", "--json"])
    assert only.exit_code == 0, only.output
    (event,) = json.loads(only.output)
    AuditEvent.model_validate(event)
    assert event["agent"][0]["who"]["identifier"]["value"] == client_id
    later = runner.invoke(main, ["audit", *where, "--since", "2026-12-02"])
    assert later.output.strip() == "no audit events"
    bad = runner.invoke(main, ["audit", *where, "--since", "soon"])
    assert bad.exit_code == 2


def test_a_request_decided_despite_deviations_says_so_in_the_audit_trail(
    client: FlaskClient, services: Services
) -> None:
    request = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
    del request["entry"][0]["resource"]["item"][0]["category"]
    client.post("/fhir/Claim/$submit", data=json.dumps(request), content_type=FHIR_JSON)
    with services.sessions() as session:
        (record,) = session.scalars(
            select(AuditRecord).where(AuditRecord.route == "/fhir/Claim/$submit")
        ).all()
    assert record.detail and "1 profile deviations" in record.detail


def test_a_replayed_submission_is_audited_as_the_replay_it_is(
    client: FlaskClient, services: Services
) -> None:
    first = submit(client, None)
    again = submit(client, None)
    assert again.data == first.data
    with services.sessions() as session:
        auth_id = session.scalar(select(Authorization.id))
        sub_id = session.scalar(select(Submission.id))
    original, replay = (r for r in rows(services) if r.route == "/fhir/Claim/$submit")
    cr = first.get_json()["entry"][0]["resource"]["id"]
    named = [f"ClaimResponse/{cr}", f"authorization/{auth_id}"]
    assert original.entities == named
    assert replay.entities == named
    assert original.detail is None
    assert replay.detail == f"replayed the answer to submission {sub_id}"
