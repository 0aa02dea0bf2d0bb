"""Request ids (``X-Request-ID``) and the access line: ids and counts, never patient data."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient

from fhirauth.api.requestlog import request_id
from tests.auth.helpers import Register, TokenFor, bearer
from tests.conftest import EXAMPLES

pytest_plugins = ("tests.auth.fixtures",)


def test_a_plain_request_id_is_echoed_and_anything_else_replaced() -> None:
    assert request_id("abc-123.x_y:z") == "abc-123.x_y:z"
    assert request_id(" spaced ") == "spaced"
    for bad in (None, "", "two words", "x" * 129, "évil", "a\nb", "<script>"):
        made = request_id(bad)
        assert re.fullmatch(r"[0-9a-f]{32}", made), bad


def test_every_response_carries_the_request_id(client: FlaskClient) -> None:
    given = client.get("/fhir/metadata", headers={"X-Request-ID": "ehr-7f3a"})
    assert given.headers["X-Request-ID"] == "ehr-7f3a"
    made = client.get("/fhir/metadata").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/fhir/metadata").headers["X-Request-ID"] != made
    # Errors too: a 404 and a refused body.
    assert client.get("/nowhere", headers={"X-Request-ID": "r-404"}).headers["X-Request-ID"] == (
        "r-404"
    )
    bad = client.post("/fhir/Claim/$submit", data=b"{", content_type="application/fhir+json")
    assert bad.status_code == 400 and bad.headers["X-Request-ID"]


def test_refused_requests_have_an_id_and_log_lines_carry_it_and_the_client(
    secure: FlaskClient,
    register: Register,
    token_for: TokenFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = secure.get("/fhir/AuditEvent", headers={"X-Request-ID": "no-token-1"})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "no-token-1"
    client_id = register()
    token = token_for(client_id)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        resp = secure.post(
            "/fhir/Claim/$submit?secret=query",
            data=(EXAMPLES / "approve-ct-head.json").read_bytes(),
            content_type="application/fhir+json",
            headers={**bearer(token), "X-Request-ID": "submit-42"},
        )
    assert resp.status_code == 200
    (access,) = [r for r in caplog.records if r.name == "fhirauth.access"]
    assert access.getMessage().startswith("POST /fhir/Claim/$submit 200 ")
    assert access.request_id == "submit-42" and access.client_id == client_id  # type: ignore[attr-defined]
    assert access.status == 200 and access.path == "/fhir/Claim/$submit"  # type: ignore[attr-defined]
    ours = [r for r in caplog.records if r.name.startswith("fhirauth")]
    assert all(r.request_id == "submit-42" for r in ours)  # type: ignore[attr-defined]
    # No query string, no patient data, in any line.
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret=query" not in text
    patient = next(
        e["resource"]
        for e in json.loads((EXAMPLES / "approve-ct-head.json").read_text())["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    secrets = [patient["name"][0]["family"], patient["birthDate"]]
    secrets += [i["value"] for i in patient["identifier"]]
    for secret in secrets:
        assert secret not in text
