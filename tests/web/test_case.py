"""The case page (/console/cases/<id>): what a reviewer reads about one request, the documents
opened in the browser, the decide forms (recorded under the signed-in staff user and answered
to the provider), and the administrator's reassignment."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from fhirauth.services import Services
from fhirauth.store.models import AuditRecord, Authorization, DecisionEvent
from tests.api.test_attachments import attachment, member_of, post_attachment, tracking_of
from tests.cases import MIXED, MRI, ask_for_imaging, auth_id, imaging_report, load, submit
from tests.pas import review_actions
from tests.updates import appeal_of
from tests.web.conftest import Console

SCRIPT = "<script>alert(1)</script>"
DENIAL = {
    "action": "deny",
    "reason_code": "MN",
    "reason": "Headache without red flags does not meet the plan's imaging criteria (RAD-12).",
}


def current(client: FlaskClient, answer: dict[str, Any]) -> dict[str, Any]:
    """The ClaimResponse as the submitting client reads it now."""
    cr_id = answer["entry"][0]["resource"]["id"]
    resp = client.get(f"/fhir/ClaimResponse/{cr_id}")
    assert resp.status_code == 200
    return resp.get_json()


def action_of(cr: dict[str, Any], sequence: int) -> str:
    return review_actions({"entry": [{"resource": cr}]})[sequence]


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


@pytest.fixture
def mixed(client: FlaskClient, services: Services) -> tuple[str, dict[str, Any]]:
    """A standard request whose item 3 (MRI brain, CPT 70551) is pended."""
    answer = submit(client, MIXED)
    return auth_id(services, answer), answer


def test_the_case_page_shows_the_patient_coverage_provider_items_and_trace(
    console: Callable[..., Console], mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, _ = mixed
    resp = console().get(f"/console/cases/{auth}")
    assert resp.status_code == 200
    html = text(resp)
    for shown in (
        "Jonah Elias Whitaker",
        "1986-04-11",
        "DHP619374420",
        "Demo Health Plan Choice PPO (DHP-PPO-2026)",
        "Riverbend Multispecialty Clinic",
        "http://www.ama-assn.org/go/cpt|70551",
        "MRI brain (including brain stem) without contrast material",
        "2026-12-16 to 2027-01-15",
        "On Campus-Outpatient Hospital",
        "rule:mri-brain",
        "approval criteria not met; a reviewer decides",
        "7 d left",
    ):
        assert shown in html, shown
    # One set of decide forms, for the one pended item.
    assert re.findall(r'id="decide-(\d+)"', html) == ["3"]
    assert f'action="/console/cases/{auth}/items/3/decide"' in html
    assert '<option value="NC">' in html and '<option value="MN">' in html
    assert 'value="18748-4"' in html
    assert "<script" not in html and "style=" not in html


def test_an_unknown_case_is_404(console: Callable[..., Console]) -> None:
    assert console().get(f"/console/cases/{'0' * 32}").status_code == 404


def test_a_decision_from_the_case_page_is_answered_to_the_provider_under_the_staff_user(
    console: Callable[..., Console],
    client: FlaskClient,
    services: Services,
    mixed: tuple[str, dict[str, Any]],
) -> None:
    auth, answer = mixed
    desk = console()
    resp = desk.post(f"/console/cases/{auth}/items/3/decide", {**DENIAL})
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/console/cases/{auth}?done=deny&item=3"
    page = text(desk.get(resp.headers["Location"]))
    assert "Item 3 denied" in page
    assert "console: item 3 denied" in page  # the case's own audit trail says who did what
    cr = current(client, answer)
    assert cr["meta"]["versionId"] == "2" and action_of(cr, 3) == "A3"
    notes = {n["number"]: n["text"] for n in cr["processNote"]}
    (item,) = [i for i in cr["item"] if i["itemSequence"] == 3]
    assert "RAD-12" in notes[item["noteNumber"][0]]
    with services.sessions() as session:
        event = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id.desc())).first()
        assert event is not None and event.actor == "reviewer:staff:rita"
        assert event.trace["reviewer"] == "rita (console)"
        row = session.scalars(select(AuditRecord).where(AuditRecord.route.like("%/decide"))).one()
        assert row.agent == "staff:rita" and row.detail == "console: item 3 denied"
        assert f"authorization/{auth}" in row.entities


def test_approve_partial_and_request_info_each_give_their_review_action(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    desk = console()
    forms = [
        ({"action": "approve", "period_days": "30"}, "A1"),
        ({"action": "modify", "quantity": "1", "period_days": "10", "reason": "One study"}, "A6"),
        ({"action": "request-info", "documents": ["18748-4", "11506-3"]}, "A4"),
    ]
    for n, (form, expected) in enumerate(forms):
        request = load(MRI)  # three requests, not one sent three times
        request["entry"][0]["resource"]["identifier"][0]["value"] += f"-{n}"
        if "identifier" in request:
            request["identifier"]["value"] += f"-{n}"
        answer = submit(client, request)
        auth = auth_id(services, answer)
        resp = desk.post(f"/console/cases/{auth}/items/1/decide", form)
        assert resp.status_code == 303, text(resp)
        cr = current(client, answer)
        assert cr["meta"]["versionId"] == "2" and action_of(cr, 1) == expected
    with services.sessions() as session:
        asked = session.scalars(select(Authorization).order_by(Authorization.received_at)).all()
        wanted = [d["code"] for a in asked for i in a.items for d in i.requested_documents or []]
    assert sorted(wanted) == ["11506-3", "18748-4"]


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"action": "deny"}, "a denial needs an X12 886 reason code"),
        ({**DENIAL, "reason_code": "ZZ"}, "choose a reason code from the list"),
        ({"action": "request-info"}, "choose at least one document"),
        ({"action": "modify"}, "a partial approval gives the quantity or the period"),
        ({"action": "approve", "period_days": "0"}, "period days"),
        ({"action": "burn"}, "action"),
        ({**DENIAL, "reason": "Not necessary.\x00"}, "control characters are not allowed"),
        ({**DENIAL, "reason_code": "MN\n"}, "reason code"),
    ],
)
def test_an_incomplete_form_changes_nothing_and_says_why(
    console: Callable[..., Console],
    client: FlaskClient,
    mixed: tuple[str, dict[str, Any]],
    form: dict[str, Any],
    said: str,
) -> None:
    auth, answer = mixed
    resp = console().post(f"/console/cases/{auth}/items/3/decide", form)
    assert resp.status_code == 400
    html = text(resp)
    assert "Item 3 was not decided" in html and said in html
    assert current(client, answer)["meta"]["versionId"] == "1"


def test_a_final_item_cannot_be_decided_again_and_the_page_says_so(
    console: Callable[..., Console], client: FlaskClient, mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, answer = mixed
    desk = console()
    assert (
        desk.post(f"/console/cases/{auth}/items/3/decide", {"action": "approve"}).status_code == 303
    )
    again = desk.post(f"/console/cases/{auth}/items/3/decide", {**DENIAL})
    assert again.status_code == 409
    html = text(again)
    assert "Item 3 was not decided: it is final (A1, certified in total)" in html
    assert "an administrator reopens it first (Reopen item 3, below)" in html
    assert "/admin/review" not in html  # the API's hint is for API clients
    assert "Traceback" not in html
    assert action_of(current(client, answer), 3) == "A1"


def test_the_reviewer_who_denied_cannot_decide_the_appeal(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    request = load(MRI)
    answer = submit(client, request)
    auth = auth_id(services, answer)
    desk = console()
    assert desk.post(f"/console/cases/{auth}/items/1/decide", {**DENIAL}).status_code == 303
    submit(client, appeal_of(request, 1))
    resp = desk.post(f"/console/cases/{auth}/items/1/decide", {"action": "approve"})
    assert resp.status_code == 403 and "Item 1 was not decided" in text(resp)
    assert "decided by a reviewer who took no part in the decision appealed" in text(resp)
    other = console("admin")
    assert (
        other.post(f"/console/cases/{auth}/items/1/decide", {"action": "approve"}).status_code
        == 303
    )
    assert action_of(current(client, answer), 1) == "A1"


def test_a_form_without_its_csrf_token_changes_nothing(
    console: Callable[..., Console], client: FlaskClient, mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, answer = mixed
    desk = console()
    resp = desk.client.post(f"/console/cases/{auth}/items/3/decide", data={"action": "approve"})
    assert resp.status_code == 403
    resp = desk.client.post(
        f"/console/cases/{auth}/items/3/decide", data={"action": "approve", "csrf": "forged"}
    )
    assert resp.status_code == 403
    assert current(client, answer)["meta"]["versionId"] == "1"


def test_a_reviewer_cannot_reassign_a_case(
    console: Callable[..., Console], services: Services, mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, _ = mixed
    desk = console()
    assert 'action="/console/cases/' + auth + '/assign"' not in text(
        desk.get(f"/console/cases/{auth}")
    )
    resp = desk.post(f"/console/cases/{auth}/assign", {"username": "rita"})
    assert resp.status_code == 403
    with services.sessions() as session:
        row = session.get(Authorization, auth)
        assert row is not None and row.assigned_to is None


def test_an_admin_reassigns_a_case_to_an_enabled_staff_user(
    console: Callable[..., Console], services: Services, mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, _ = mixed
    console()  # rita, a reviewer
    admin = console("admin")
    page = text(admin.get(f"/console/cases/{auth}"))
    assert '<option value="rita">rita</option>' in page
    resp = admin.post(f"/console/cases/{auth}/assign", {"username": "rita"})
    assert resp.status_code == 303
    assert "The case is now assigned to rita." in text(admin.get(resp.headers["Location"]))
    with services.sessions() as session:
        row = session.get(Authorization, auth)
        assert row is not None and row.assigned_to == "rita"
        audit = session.scalars(select(AuditRecord).where(AuditRecord.route.like("%/assign"))).one()
        assert audit.agent == "staff:ada" and audit.detail == "console: case assigned to rita"
    assert admin.post(f"/console/cases/{auth}/assign", {"username": "mallory"}).status_code == 400
    assert admin.post(f"/console/cases/{auth}/assign", {"username": ""}).status_code == 303
    with services.sessions() as session:
        row = session.get(Authorization, auth)
        assert row is not None and row.assigned_to is None


def test_a_patient_name_that_is_markup_is_shown_as_text(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    request = load(MRI)
    patient = next(
        e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient["name"] = [{"use": "official", "family": SCRIPT, "given": ["Eve"]}]
    auth = auth_id(services, submit(client, request))
    html = text(console().get(f"/console/cases/{auth}"))
    assert "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html


def test_an_html_attachment_opens_sandboxed_and_a_text_one_as_itself(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    request = load(MRI)
    answer = submit(client, request)
    auth = auth_id(services, answer)
    asked = ask_for_imaging(client, auth)
    page = imaging_report(f"<h1>MRI report</h1>{SCRIPT}".encode())
    resp = post_attachment(client, attachment(tracking_of(asked), member_of(request), page))
    assert resp.status_code == 200
    desk = console()
    assert f'href="/console/cases/{auth}/documents/1"' in text(desk.get(f"/console/cases/{auth}"))
    opened = desk.get(f"/console/cases/{auth}/documents/1")
    assert opened.status_code == 200 and opened.mimetype == "text/html"
    assert opened.get_data() == f"<h1>MRI report</h1>{SCRIPT}".encode()
    assert opened.headers["Content-Disposition"] == "inline"
    assert opened.headers["X-Content-Type-Options"] == "nosniff"
    csp = [d.strip() for d in opened.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert desk.get(f"/console/cases/{auth}/documents/2").status_code == 404


# Reopening from the console: an administrator's, with a reason, as POST /admin/review/<key>/reopen.


def test_an_admin_reopens_a_final_item_and_a_reviewer_decides_it_again(
    console: Callable[..., Console],
    client: FlaskClient,
    services: Services,
    mixed: tuple[str, dict[str, Any]],
) -> None:
    auth, answer = mixed
    rita, ada = console(), console("admin")
    assert (
        rita.post(f"/console/cases/{auth}/items/3/decide", {"action": "approve"}).status_code == 303
    )
    page = text(ada.get(f"/console/cases/{auth}"))
    assert f'action="/console/cases/{auth}/items/3/reopen"' in page
    assert 'id="decide-3"' not in page

    resp = ada.post(f"/console/cases/{auth}/items/3/reopen", {"reason": "Peer review asked"})
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/console/cases/{auth}?done=reopen&item=3"
    page = text(ada.get(resp.headers["Location"]))
    assert "Item 3 reopened: pended (A4) again" in page and 'id="decide-3"' in page
    cr = current(client, answer)
    assert cr["meta"]["versionId"] == "3" and action_of(cr, 3) == "A4"
    assert "Peer review asked" not in str(cr)  # the reason is the payer's, in the trace
    with services.sessions() as session:
        event = session.scalars(select(DecisionEvent).order_by(DecisionEvent.id.desc())).first()
        assert event is not None and event.action == "A4"
        assert event.trace["why"] == "Peer review asked" and event.trace["reopened_from"] == "A1"
        assert event.trace["reviewer"] == "ada (console)"
        row = session.scalars(select(AuditRecord).where(AuditRecord.route.like("%/reopen"))).one()
        assert row.agent == "staff:ada" and row.detail.startswith("console: item 3 reopened")

    assert rita.post(f"/console/cases/{auth}/items/3/decide", {**DENIAL}).status_code == 303
    cr = current(client, answer)
    assert cr["meta"]["versionId"] == "4" and action_of(cr, 3) == "A3"


def test_a_reviewer_has_no_reopen_form_and_is_refused_one(
    console: Callable[..., Console], client: FlaskClient, mixed: tuple[str, dict[str, Any]]
) -> None:
    auth, answer = mixed
    rita = console()
    assert "/reopen" not in text(rita.get(f"/console/cases/{auth}"))
    resp = rita.post(f"/console/cases/{auth}/items/2/reopen", {"reason": "I changed my mind"})
    assert resp.status_code == 403
    assert current(client, answer)["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("item", "form", "status", "said"),
    [
        (2, {}, 400, "Item 2 was not reopened: reason: Missing data"),
        (2, {"reason": "   "}, 400, "Item 2 was not reopened: reason: say why, in words"),
        (2, {"reason": "Audit\x07"}, 400, "control characters are not allowed"),
        (3, {"reason": "Audit"}, 409, "Item 3 was not reopened: item 3 of"),
        (9, {"reason": "Audit"}, 400, "has no item 9"),
    ],
)
def test_a_reopening_that_cannot_be_done_changes_nothing_and_says_why(
    console: Callable[..., Console],
    client: FlaskClient,
    mixed: tuple[str, dict[str, Any]],
    item: int,
    form: dict[str, str],
    status: int,
    said: str,
) -> None:
    auth, answer = mixed
    resp = console("admin").post(f"/console/cases/{auth}/items/{item}/reopen", form)
    assert resp.status_code == status
    assert said in text(resp) and "Traceback" not in text(resp)
    assert current(client, answer)["meta"]["versionId"] == "1"
