"""With authentication required, console sessions and API tokens are separate keys: a token
opens no console page, a console session no FHIR or admin endpoint."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from fhirauth.services import Services
from tests.auth.helpers import ALL_SCOPES
from tests.web.conftest import add_staff, sign_in

pytest_plugins = ("tests.auth.fixtures",)


def test_a_console_session_opens_no_api_endpoint(
    secure_app: Flask, secure_services: Services
) -> None:
    add_staff(secure_services, "ada", "admin")
    browser = secure_app.test_client()
    assert sign_in(browser, "ada").status_code == 303
    assert browser.get("/console/").status_code == 200
    for url in ("/admin/review/queue", "/fhir/AuditEvent", "/fhir/ClaimResponse/x"):
        assert browser.get(url).status_code == 401, url


def test_an_access_token_opens_no_console_page(
    secure: FlaskClient, register: object, token_for: object
) -> None:
    client_id = register()  # type: ignore[operator]
    token = token_for(client_id, " ".join(ALL_SCOPES))  # type: ignore[operator]
    headers = {"Authorization": f"Bearer {token}"}
    assert secure.get("/admin/review/queue", headers=headers).status_code == 200
    answer = secure.get("/console/", headers=headers)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/login")
