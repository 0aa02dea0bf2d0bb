"""Signing in to the console: staff accounts, server-side sessions, CSRF, lockout, sign-out,
expiry; access tokens and console sessions never open each other's doors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from fhirauth.auth import console_sessions, staff
from fhirauth.services import Services
from fhirauth.store.models import AuditRecord, ConsoleSession
from fhirauth.web.blueprint import COOKIE
from tests.web.conftest import Console, add_staff, form_csrf, sign_in


def test_pages_need_a_signed_in_staff_user(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/console/")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/console/login")
    assert client.post("/console/logout", data={}).status_code == 401


def test_a_reviewer_signs_in_and_out(app: Flask, services: Services) -> None:
    add_staff(services, "rita", "reviewer")
    client = app.test_client()
    answer = sign_in(client, "rita")
    assert answer.status_code == 303
    cookie = client.get_cookie(COOKIE, path="/console")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    page = client.get("/console/").get_data(as_text=True)
    assert "rita · reviewer" in page
    out = client.post("/console/logout", data={"csrf": form_csrf(page)})
    assert out.status_code == 303
    assert client.get("/console/").status_code == 303  # signed out: back to the sign-in page
    with services.sessions() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_the_session_cookie_is_secure_when_the_console_is_reached_over_https(
    app: Flask, services: Services
) -> None:
    add_staff(services, "rita", "reviewer")
    client = app.test_client()
    csrf = form_csrf(client.get("/console/login", base_url="https://payer.test").get_data(True))
    answer = client.post(
        "/console/login",
        base_url="https://payer.test",
        data={"csrf": csrf, "username": "rita", "password": "correct horse battery"},
    )
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_and_audited(app: Flask, services: Services) -> None:
    add_staff(services, "rita", "reviewer")
    client = app.test_client()
    answer = sign_in(client, "rita", "not the password")
    assert answer.status_code == 401
    assert "Wrong username or password" in answer.get_data(as_text=True)
    assert client.get("/console/").status_code == 303
    with services.sessions() as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.route == "/console/login")
        ).all()
    assert [(r.agent, r.status, r.detail) for r in rows] == [
        ("staff:rita", 401, "console sign-in refused: wrong password")
    ]


def test_an_unknown_name_gets_the_same_answer_as_a_wrong_password(app: Flask) -> None:
    answer = sign_in(app.test_client(), "nobody", "whatever it is")
    assert answer.status_code == 401
    assert "Wrong username or password" in answer.get_data(as_text=True)


def test_what_cannot_be_a_username_is_refused_like_any_wrong_name(
    app: Flask, services: Services
) -> None:
    answer = sign_in(app.test_client(), "ri\x00ta", "whatever it is")
    assert answer.status_code == 401
    with services.sessions() as session:
        agents = session.scalars(
            select(AuditRecord.agent).where(AuditRecord.route == "/console/login")
        ).all()
    assert agents == ["staff:(not a username)"]


def test_repeated_failures_lock_the_account(app: Flask, services: Services) -> None:
    add_staff(services, "rita", "reviewer")
    client = app.test_client()
    for _ in range(staff.LOCK_AFTER):
        assert sign_in(client, "rita", "guessing again").status_code == 401
    # Even the right password is refused while the account is locked.
    assert sign_in(client, "rita").status_code == 401
    with services.sessions.begin() as session:
        staff.reset(session, "rita", "a brand new password")
    assert sign_in(client, "rita", "a brand new password").status_code == 303


def test_the_sign_in_form_needs_its_csrf_token(app: Flask, services: Services) -> None:
    add_staff(services, "rita", "reviewer")
    client = app.test_client()
    client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"csrf": "forged", "username": "rita", "password": "correct horse battery"},
    )
    assert answer.status_code == 403
    assert client.get("/console/").status_code == 303


def test_a_form_posted_without_its_csrf_token_changes_nothing(
    console: Callable[..., Console], services: Services
) -> None:
    rita = console()
    answer = rita.client.post("/console/logout", data={})
    assert answer.status_code == 403
    assert rita.get("/console/").status_code == 200  # still signed in
    with services.sessions() as session:
        refused = session.scalars(
            select(AuditRecord).where(AuditRecord.status == 403, AuditRecord.agent == "staff:rita")
        ).all()
    assert [r.detail for r in refused] == ["console: form without its CSRF token refused"]


def test_a_session_expires_when_idle_and_when_old(services: Services) -> None:
    now = services.clock()
    with services.sessions.begin() as session:
        who = staff.add(session, "rita", "reviewer", "correct horse battery", now)
        token, _ = console_sessions.open_session(session, who, now)
    with services.sessions.begin() as session:
        assert console_sessions.find(session, token, now + timedelta(minutes=29)) is not None
    with services.sessions.begin() as session:
        # Seen at 29 minutes: alive until 59.
        assert console_sessions.find(session, token, now + timedelta(minutes=58)) is not None
    with services.sessions.begin() as session:
        assert console_sessions.find(session, token, now + timedelta(minutes=89)) is None
    with services.sessions.begin() as session:
        token, _ = console_sessions.open_session(session, who, now)
    later = now
    for _ in range(25):  # busy all day: still ends 12 hours after sign-in
        later += timedelta(minutes=29)
        with services.sessions.begin() as session:
            alive = console_sessions.find(session, token, later) is not None
        if later - now >= console_sessions.ABSOLUTE:
            assert not alive
            break
        assert alive


def test_disabling_an_account_ends_its_sessions(
    console: Callable[..., Console], services: Services
) -> None:
    rita = console()
    with services.sessions.begin() as session:
        staff.set_enabled(session, "rita", False)
    assert rita.get("/console/").status_code == 303
    assert sign_in(rita.client, "rita").status_code == 401


def test_an_access_token_never_opens_the_console(app: Flask) -> None:
    answer = app.test_client().get("/console/", headers={"Authorization": "Bearer anything"})
    assert answer.status_code == 303


def test_every_page_is_sent_with_a_strict_content_security_policy(
    console: Callable[..., Console],
) -> None:
    answer = console().get("/console/")
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "<script" not in answer.get_data(as_text=True)


def test_a_reviewer_cannot_reach_admin_pages(console: Callable[..., Console]) -> None:
    assert console().get("/console/staff").status_code == 403
    assert "rita" in console("admin").get("/console/staff").get_data(as_text=True)
