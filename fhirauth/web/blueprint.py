"""The console's blueprint and what every page shares: who is signed in, CSRF, the headers.

Every route under ``/console`` but the sign-in page and the stylesheet needs a signed-in staff
user (fhirauth.auth.staff); every POST carries the session's CSRF token in the form field
``csrf``. Pages are server-rendered with autoescaping and no script at all, under a
Content-Security-Policy that would refuse one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from fhirauth.auth import console_sessions
from fhirauth.auth.staff import Staff
from fhirauth.errors import FhirError
from fhirauth.operations.review import Reviewer
from fhirauth.principal import Principal
from fhirauth.services import Services

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

COOKIE = "fhirauth_console"
LOGIN_COOKIE = "fhirauth_console_login"  # the sign-in form's CSRF token, before any session
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Where a case opens, by the authorization's opaque id (never PHI in a URL).
CASE_URL = "/console/cases/{id}"
_SIGN_IN = frozenset({"console.login", "console.login_post"})

F = TypeVar("F", bound=Callable[..., Any])


def tokens_match(sent: str, expected: str) -> bool:
    """A CSRF token compared in constant time; as bytes, since ``compare_digest`` refuses a
    ``str`` with non-ASCII characters (what a forged form may well send)."""
    return secrets.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def services() -> Services:
    return current_app.extensions["fhirauth"]


def current_staff() -> Staff:
    found = g.get("staff")
    if not isinstance(found, Staff):
        raise RuntimeError("no staff user: fhirauth.web.blueprint.load_staff did not run")
    return found


def staff_principal() -> Principal:
    return Principal(f"staff:{current_staff().username}")


def staff_reviewer() -> Reviewer:
    """The signed-in user as the reviewer a decision records."""
    staff = current_staff()
    return Reviewer(f"staff:{staff.username}", f"{staff.username} (console)")


def admin_only(view: F) -> F:
    """For views only administrators may reach: anyone else gets the 403 page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_staff().is_admin:
            g.audit_detail = "console: admin page refused to a reviewer"
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def secure_cookies() -> bool:
    """Secure cookies whenever the console is reached over https, directly or behind a proxy
    whose public address (FHIRAUTH_BASE_URL) is https."""
    return request.is_secure or services().settings.base_url.startswith("https://")


def page(template: str, **context: Any) -> str:
    return render_template(
        template,
        staff=g.get("staff"),
        csrf_token=g.get("csrf", ""),
        sandbox=services().settings.sandbox,
        **context,
    )


@bp.before_request
def load_staff() -> Response | None:
    """The signed-in staff user, or the way to the sign-in page; the CSRF check of a POST."""
    if request.endpoint == "console.static":
        g.audit_skip = True  # the stylesheet: nothing to audit
        return None
    if request.endpoint in _SIGN_IN:
        return None
    svc = services()
    opened = None
    token = request.cookies.get(COOKIE, "")
    if token:
        with svc.sessions.begin() as session:
            opened = console_sessions.find(session, token, svc.clock())
    if opened is None:
        g.audit_detail = "console: not signed in"
        if request.method == "GET":
            return redirect(f"{bp.url_prefix}/login", 303)
        abort(401)
    g.staff = opened.staff
    g.csrf = opened.csrf
    g.principal = staff_principal()
    g.audit_agent = g.principal.id
    if request.method == "POST" and not tokens_match(request.form.get("csrf", ""), opened.csrf):
        g.audit_detail = "console: form without its CSRF token refused"
        abort(403)
    return None


@bp.after_request
def headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "console.static":
        # Pages hold PHI: never kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response


_PAGES = {
    401: ("Signed out", "Your session has ended: sign in again."),
    403: ("Not allowed", "Your account may not do this, or the form had expired: reload it."),
    404: ("Not found", "There is nothing here."),
    413: ("Too large", "What you sent is larger than this server accepts."),
}


def _http_error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    title, sentence = _PAGES.get(code, ("Error", "This did not work."))
    return page("error.html", title=title, sentence=sentence), code


def _fhir_error(exc: FhirError) -> tuple[str, int]:
    """An operation's refusal, as the sentence it gives (never a stack trace)."""
    return page("error.html", title="Not done", sentence=str(exc)), exc.status


for _code in _PAGES:
    bp.register_error_handler(_code, _http_error)
bp.register_error_handler(FhirError, _fhir_error)
