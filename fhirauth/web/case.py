"""The case page: one authorization as a reviewer works it (``operations/casefile.py``), the
documents received opened in the browser, a decision form per pended item, and for an
administrator the reopening of a final item and the assignment. Decisions are
``review.decide`` and reopenings ``review.reopen``, under the signed-in staff user; what the
operation refuses (a final item, a reviewer's own denial under appeal, an item pended
already, a form it cannot take) is said on the page as a sentence. The URL names the case by
its opaque id only.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, abort, g, make_response, redirect, request
from sqlalchemy.orm import Session

from fhirauth.auth import staff as staff_accounts
from fhirauth.errors import FhirError, NotFound
from fhirauth.operations import review
from fhirauth.operations.casefile import casefile
from fhirauth.operations.casefile_history import document
from fhirauth.web.blueprint import (
    CASE_URL,
    admin_only,
    bp,
    current_staff,
    page,
    services,
    staff_principal,
    staff_reviewer,
)
from fhirauth.web.case_forms import (
    ACTION_LABELS,
    FormError,
    assignee_of,
    decision_of,
    reason_codes,
    reopen_reason_of,
)

# What an attachment may do once opened: nothing but show itself. ``sandbox`` puts it in an
# opaque origin with scripts, forms and plugins off, so an HTML or SVG document runs nothing
# and reaches neither the console's cookies nor its pages.
DOCUMENT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _audit(auth_id: str) -> None:
    g.audit_entities = [f"authorization/{auth_id[:128]}"]


def _notice(done: str | None, item: str | None, assigned: str | None) -> str | None:
    """The sentence a redirect after a change asks for (``?done=``): no PHI travels in it."""
    if done in ACTION_LABELS and item and item.isdigit():
        return f"Item {item} {ACTION_LABELS[done]}: the provider's next response says so."
    if done == "assigned":
        return f"The case is now assigned to {assigned}." if assigned else "The case is unassigned."
    return None


def _render(auth_id: str, *, error: str | None = None, status: int = 200) -> Response:
    svc = services()
    with svc.sessions() as session:
        try:
            case = casefile(session, auth_id, svc.clock())
        except NotFound:
            abort(404)
        staff = staff_accounts.enabled_usernames(session) if current_staff().is_admin else []
    _audit(case.id)
    notice = None
    if error is None:
        notice = _notice(request.args.get("done"), request.args.get("item"), case.assigned_to)
    html = page(
        "case.html",
        nav="queue",
        case=case,
        error=error,
        notice=notice,
        reasons=reason_codes(svc.policies),
        loinc=sorted(review.LOINC_NAMES.items()),
        staff_names=staff,
        url=CASE_URL.format(id=case.id),
    )
    return make_response(html, status)


@bp.get("/cases/<auth_id>")
def case_page(auth_id: str) -> Response:
    return _render(auth_id)


@bp.get("/cases/<auth_id>/documents/<int:number>")
def case_document(auth_id: str, number: int) -> Response:
    svc = services()
    with svc.sessions() as session:
        try:
            auth = review.find(session, auth_id)
            found = document(session, auth.id, number)
        except NotFound:
            abort(404)
    _audit(auth.id)
    resp = make_response(found.content)
    resp.headers["Content-Type"] = found.content_type
    resp.headers["Content-Disposition"] = "inline"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = DOCUMENT_CSP
    return resp


def _change_item(
    auth_id: str, sequence: int, done: str, change: Callable[[Session, str], object]
) -> Response:
    """Run ``change`` on the case (by its id) in one transaction: a redirect to the case page
    saying ``done``, or the page with the operation's refusal as a sentence."""
    svc = services()
    try:
        with svc.sessions.begin() as session:
            auth_id = review.find(session, auth_id).id
            change(session, auth_id)
    except NotFound:
        abort(404)
    except FhirError as exc:
        what, verb = (
            ("reopening of", "reopened") if done == "reopen" else ("decision on", "decided")
        )
        g.audit_detail = f"console: {what} item {sequence} refused ({exc.status})"
        why = str(exc)
        if isinstance(exc, review.FinalItem):
            why = (
                f"it is final ({exc.state}); an administrator reopens it first "
                f"(Reopen item {sequence}, below)"
            )
        return _render(auth_id, error=f"Item {sequence} was not {verb}: {why}", status=exc.status)
    g.audit_detail = f"console: item {sequence} {ACTION_LABELS[done]}"
    return redirect(f"{CASE_URL.format(id=auth_id)}?done={done}&item={sequence}", 303)


@bp.post("/cases/<auth_id>/items/<int:sequence>/decide")
def case_decide(auth_id: str, sequence: int) -> Response:
    _audit(auth_id)
    svc = services()
    try:
        choice = decision_of(
            request.form,
            request.form.getlist("documents"),
            sequence,
            [code for code, _ in reason_codes(svc.policies)],
        )
    except FormError as exc:
        g.audit_detail = f"console: decision on item {sequence} refused: incomplete form"
        return _render(auth_id, error=str(exc), status=400)
    principal, reviewer = staff_principal(), staff_reviewer()
    return _change_item(
        auth_id,
        sequence,
        choice.action,
        lambda session, key: review.decide(session, key, choice, principal, svc, reviewer=reviewer),
    )


@bp.post("/cases/<auth_id>/items/<int:sequence>/reopen")
@admin_only
def case_reopen(auth_id: str, sequence: int) -> Response:
    """An administrator puts a final item back to pended, for a reason kept in the trace."""
    _audit(auth_id)
    svc = services()
    try:
        reason = reopen_reason_of(request.form, sequence)
    except FormError as exc:
        g.audit_detail = f"console: reopening of item {sequence} refused: incomplete form"
        return _render(auth_id, error=str(exc), status=400)
    principal, reviewer = staff_principal(), staff_reviewer()
    return _change_item(
        auth_id,
        sequence,
        "reopen",
        lambda session, key: review.reopen(
            session, key, sequence, reason, principal, svc, reviewer=reviewer
        ),
    )


@bp.post("/cases/<auth_id>/assign")
@admin_only
def case_assign(auth_id: str) -> Response:
    _audit(auth_id)
    svc = services()
    try:
        with svc.sessions.begin() as session:
            auth = review.find(session, auth_id, lock=True)
            auth_id = auth.id
            name = assignee_of(request.form, staff_accounts.enabled_usernames(session))
            auth.assigned_to = name
    except NotFound:
        abort(404)
    except FormError as exc:
        g.audit_detail = "console: reassignment refused: not an enabled staff account"
        return _render(auth_id, error=str(exc), status=400)
    g.audit_detail = f"console: case assigned to {name}" if name else "console: case unassigned"
    return redirect(f"{CASE_URL.format(id=auth_id)}?done=assigned", 303)
