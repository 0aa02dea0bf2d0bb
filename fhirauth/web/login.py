"""Signing in and out of the console.

The sign-in form has a CSRF token before there is a session: a random value in a short-lived
cookie that the form posts back (double submit). Every attempt is audited under the name
given, with whether it succeeded; the page says the same for an unknown name, a wrong
password, a disabled account and a locked one.
"""

from __future__ import annotations

import secrets

from flask import Response, g, make_response, redirect, request

from fhirauth.auth import console_sessions, staff
from fhirauth.web.blueprint import (
    COOKIE,
    LOGIN_COOKIE,
    bp,
    page,
    secure_cookies,
    services,
    tokens_match,
)

_REFUSED = (
    "Wrong username or password. After several failures in a row an account is locked for "
    f"{int(staff.LOCK_FOR.total_seconds() // 60)} minutes."
)


def _form(error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    resp = make_response(page("login.html", login_csrf=token, error=error), status)
    resp.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(),
        path=f"{bp.url_prefix}/login",
    )
    return resp


@bp.get("/login")
def login() -> Response:
    g.audit_skip = True  # the empty form: nothing happened yet
    return _form()


@bp.post("/login")
def login_post() -> Response:
    username = request.form.get("username", "")[:64]
    name = username.strip().lower()
    g.audit_agent = f"staff:{name}" if staff.is_username(name) else "staff:(not a username)"
    sent, expected = request.form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not tokens_match(sent, expected):
        g.audit_detail = "console sign-in: form without its CSRF token refused"
        return _form("The form had expired: sign in again.", 403)
    svc = services()
    now = svc.clock()
    with svc.sessions.begin() as session:
        # The refusal is caught inside the transaction: the failure it counted is kept.
        try:
            who = staff.sign_in(session, username, request.form.get("password", ""), now)
        except staff.SignInRefused as exc:
            g.audit_detail = f"console sign-in refused: {exc}"
            refused = True
        else:
            token, _ = console_sessions.open_session(session, who, now)
            refused = False
    if refused:
        return _form(_REFUSED, 401)
    g.audit_detail = f"console sign-in ({who.role})"
    resp = redirect(f"{bp.url_prefix}/", 303)
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(),
        path=bp.url_prefix or "/console",
    )
    resp.delete_cookie(LOGIN_COOKIE, path=f"{bp.url_prefix}/login")
    return resp


@bp.post("/logout")
def logout() -> Response:
    svc = services()
    with svc.sessions.begin() as session:
        console_sessions.close(session, request.cookies.get(COOKIE, ""))
    g.audit_detail = "console sign-out"
    resp = redirect(f"{bp.url_prefix}/login", 303)
    resp.delete_cookie(COOKIE, path=bp.url_prefix or "/console")
    return resp
