"""Tokens on every protected endpoint: discovery, 401 and 403 shapes, off mode, rate limit."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from flask.testing import FlaskClient
from sqlalchemy import update

from fhirauth import create_app
from fhirauth.auth import clients, tokens
from fhirauth.services import Services
from fhirauth.store.models import Client
from tests.auth.helpers import TOKEN_URL, Register, TokenFor, bearer
from tests.conftest import EXAMPLES, NOW

pytest_plugins = ("tests.auth.fixtures",)

FHIR_JSON = "application/fhir+json"


def one_outcome(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    OperationOutcome.model_validate(body)
    assert [i["code"] for i in body["issue"]] == [code]
    return body


def submit(client: FlaskClient, token: str | None = None, name: str = "approve-ct-head") -> Any:
    return client.post(
        "/fhir/Claim/$submit",
        data=(EXAMPLES / f"{name}.json").read_bytes(),
        content_type=FHIR_JSON,
        headers=bearer(token) if token else {},
    )


@pytest.mark.parametrize(
    "path", ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"]
)
def test_smart_configuration_describes_backend_services(secure: FlaskClient, path: str) -> None:
    resp = secure.get(path)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    conf = resp.get_json()
    assert conf["token_endpoint"] == TOKEN_URL
    assert conf["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert conf["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert conf["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in conf["capabilities"]
    assert {"system/Claim.write", "system/Claim.rs", "system/fhirauth.admin"} <= set(
        conf["scopes_supported"]
    )


def test_metadata_is_open_and_names_the_token_endpoint(secure: FlaskClient) -> None:
    resp = secure.get("/fhir/metadata")
    assert resp.status_code == 200
    cs = resp.get_json()
    CapabilityStatement.model_validate(cs)
    security = cs["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (uris,) = security["extension"]
    assert uris["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert uris["extension"] == [{"url": "token", "valueUri": TOKEN_URL}]
    assert "Warning" not in resp.headers
    assert (
        secure.get("/fhir/OperationDefinition/CoverageEligibilityRequest-submit").status_code == 200
    )


def test_a_token_then_an_api_call_succeeds(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    token = token_for(register())
    resp = submit(secure, token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    cr = resp.get_json()["entry"][0]["resource"]
    read = secure.get(f"/fhir/ClaimResponse/{cr['id']}", headers=bearer(token))
    assert read.status_code == 200
    assert secure.get("/admin/review/queue", headers=bearer(token)).status_code == 200


def test_no_token_is_401_with_www_authenticate(secure: FlaskClient) -> None:
    for resp in (
        submit(secure),
        secure.get("/fhir/ClaimResponse/x"),
        secure.get("/fhir/Subscription/$status"),
        secure.get("/admin/review/queue"),
        secure.get("/fhir/AuditEvent"),
    ):
        body = one_outcome(resp, 401, "login")
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="fhirauth"'
        assert "access token" in body["issue"][0]["diagnostics"]


def test_a_bad_or_expired_token_is_401_invalid_token(
    secure: FlaskClient, secure_services: Services, register: Register
) -> None:
    client_id = register()
    settings = secure_services.settings
    expired, _ = tokens.issue(settings, client_id, ["system/*.*"], [], NOW.replace(hour=10))
    resp = submit(secure, expired)
    one_outcome(resp, 401, "expired")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    good, _ = tokens.issue(settings, client_id, ["system/*.*"], [], NOW)
    claims = jwt.decode(good, options={"verify_signature": False})
    forged_key = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"typ": "at+jwt"})
    head, payload, _sig = good.split(".")
    tampered = f"{head}.{payload[:-4]}AAAA.{_sig}"
    wrong_aud, _ = tokens.issue(
        dataclasses.replace(settings, base_url="https://other/fhir"),
        client_id,
        ["system/*.*"],
        [],
        NOW,
    )
    for token in (forged_key, tampered, wrong_aud, "garbage", "a.b.c"):
        resp = submit(secure, token)
        one_outcome(resp, 401, "login")
        assert resp.headers["WWW-Authenticate"].startswith(
            'Bearer realm="fhirauth", error="invalid_token"'
        )
    basic = secure.get("/fhir/Claim/x", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    one_outcome(basic, 401, "login")


def test_a_disabled_clients_tokens_stop_working_at_once(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    client_id = register()
    token = token_for(client_id)
    assert secure.get("/fhir/Claim/unknown", headers=bearer(token)).status_code == 404
    with secure_services.sessions.begin() as session:
        clients.set_enabled(session, client_id, False, NOW)
    resp = secure.get("/fhir/Claim/unknown", headers=bearer(token))
    one_outcome(resp, 401, "login")


def test_a_client_disabled_by_another_process_is_refused_within_a_second(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    """`fhirauth clients disable` runs in its own process: this worker's memory of the
    client's state is not told, and lasts ENABLED_FRESH_FOR seconds."""
    client_id = register()
    token = token_for(client_id)
    assert secure.get("/fhir/Claim/unknown", headers=bearer(token)).status_code == 404
    with secure_services.engine.begin() as conn:  # what the CLI's process writes
        conn.execute(update(Client).where(Client.id == client_id).values(enabled=False))
    time.sleep(clients.ENABLED_FRESH_FOR + 0.05)
    one_outcome(secure.get("/fhir/Claim/unknown", headers=bearer(token)), 401, "login")


def test_a_missing_scope_is_403_with_one_outcome(
    secure: FlaskClient, register: Register, token_for: TokenFor
) -> None:
    reader = register(scopes=("system/Claim.read", "system/ClaimResponse.read"))
    token = token_for(reader, "system/Claim.read system/ClaimResponse.read")
    resp = submit(secure, token)
    body = one_outcome(resp, 403, "forbidden")
    assert "system/Claim.c" in body["issue"][0]["diagnostics"]
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    one_outcome(secure.get("/admin/review/queue", headers=bearer(token)), 403, "forbidden")
    one_outcome(secure.get("/fhir/AuditEvent", headers=bearer(token)), 403, "forbidden")
    assert secure.get("/fhir/Claim/none", headers=bearer(token)).status_code == 404


@pytest.mark.parametrize(
    "scopes",
    [("system/Claim.write",), ("system/Claim.c",), ("system/Claim.cruds",), ("system/*.write",)],
)
def test_v1_and_v2_scopes_both_reach_submit(
    secure: FlaskClient, register: Register, token_for: TokenFor, scopes: tuple[str, ...]
) -> None:
    token = token_for(register(scopes=scopes), " ".join(scopes))
    assert submit(secure, token).status_code == 200


def test_the_operations_receive_the_clients_principal(
    secure: FlaskClient, secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    from fhirauth.store.models import Submission

    client_id = register()
    assert submit(secure, token_for(client_id)).status_code == 200
    with secure_services.sessions() as session:
        (row,) = session.query(Submission).all()
        assert row.principal == client_id


def test_auth_off_answers_everyone_as_anonymous_with_a_warning(client: FlaskClient) -> None:
    resp = submit(client)
    assert resp.status_code == 200
    assert resp.headers["Warning"] == '199 fhirauth "authentication is off"'
    assert client.get("/fhir/Claim/x").headers["Warning"].startswith("199")
    assert "security" not in client.get("/fhir/metadata").get_json()["rest"][0]


def test_auth_off_is_logged_at_start(services: Services, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="fhirauth.auth"):
        create_app(services=services)
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_the_rate_limit_answers_429_with_retry_after(
    secure_services: Services, register: Register, token_for: TokenFor
) -> None:
    limited = dataclasses.replace(
        secure_services,
        settings=dataclasses.replace(secure_services.settings, rate_limit="3/minute"),
    )
    app = create_app(services=limited).test_client()
    one, two = register(), register()
    token, other = token_for(one), token_for(two)  # from the app without a limit
    statuses = [app.get("/fhir/Claim/x", headers=bearer(token)).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    resp = app.get("/fhir/Claim/x", headers=bearer(token))
    one_outcome(resp, 429, "throttled")
    # NOW is 15:30:00, so the minute's window ends in 60 s.
    assert resp.headers["Retry-After"] == "60"
    assert app.get("/fhir/Claim/x", headers=bearer(other)).status_code == 404  # per client
