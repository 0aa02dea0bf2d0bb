"""Generated inputs for the console's forms: signing in and out, the decision, reopen and
assignment forms of a case, the playground and its scripts. Every answer is below 500 and a
refusal is a page; nothing a form carries reaches the fault handler."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirauth.auth import staff
from tests.conftest import EXAMPLES
from tests.fuzz.conftest import AppFactory, Probe
from tests.web.conftest import PASSWORD, form_csrf, sign_in

FORM = "application/x-www-form-urlencoded"
NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "0", "-1", "1.5", "1e400", "NaN", "Infinity", "9" * 400, "\x00", "a\nb",
         "\ud800", "<script>alert(1)</script>", "approve", "deny", "modify", "request-info",
         "NC", "11506-3", "A3", "ada", "rita", "../../etc/passwd"]
    ),
)  # fmt: skip
DECISION_FIELDS = ("action", "period_days", "quantity", "reason_code", "reason", "documents")
SCRIPT_FIELDS = ("outcome", "count", "principal")
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _form(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.sampled_from(fields), st.one_of(NASTY, st.lists(NASTY, max_size=3)), max_size=6
    )


def _encoded(form: dict[str, Any], csrf: str | None) -> bytes:
    fields = {**form, **({"csrf": csrf} if csrf else {})}
    return urlencode(fields, doseq=True, encoding="utf-8", errors="surrogatepass").encode()


@pytest.fixture(scope="module")
def desk(make_app: AppFactory, probe_for: Any) -> tuple[Probe, str, str]:
    """A probe signed in as an admin of a sandbox app, its CSRF token, and a pended case."""
    app, services = make_app(sandbox=True)
    with services.sessions.begin() as session:
        staff.add(session, "ada", "admin", PASSWORD, services.clock())
        staff.add(session, "rita", "reviewer", PASSWORD, services.clock())
    probe: Probe = probe_for(app)
    assert sign_in(probe.client, "ada").status_code == 303
    csrf = form_csrf(probe.client.get("/console/").get_data(as_text=True))
    bundle = json.loads((EXAMPLES / "mixed-outcomes.json").read_text())
    pended = probe.client.post("/fhir/Claim/$submit", json=bundle)
    assert pended.status_code == 200
    from_store = probe.client.get("/admin/review/queue").get_json()["pended"]
    return probe, csrf, from_store[0]["id"]


def _send(probe: Probe, url: str, body: bytes) -> None:
    probe.send("POST", url, body, content_type=FORM, errors="html", raise_=True)


def test_sign_in_forms(make_app: AppFactory, probe_for: Any) -> None:
    app, services = make_app()
    with services.sessions.begin() as session:
        staff.add(session, "rita", "reviewer", PASSWORD, services.clock())
    probe: Probe = probe_for(app)
    fresh: FlaskClient = probe.client

    @FUZZ
    @given(form=_form(("username", "password", "csrf")), with_token=st.booleans())
    def run(form: dict[str, Any], with_token: bool) -> None:
        token = form_csrf(fresh.get("/console/login").get_data(as_text=True))
        _send(probe, "/console/login", _encoded(form, token if with_token else None))

    run()
    probe.check(at_least=100)


def test_decision_forms(desk: tuple[Probe, str, str]) -> None:
    probe, csrf, case = desk

    @FUZZ
    @given(form=_form(DECISION_FIELDS), item=st.sampled_from(["1", "3", "9999"]))
    def run(form: dict[str, Any], item: str) -> None:
        _send(probe, f"/console/cases/{case}/items/{item}/decide", _encoded(form, csrf))

    run()


def test_reopen_form(desk: tuple[Probe, str, str]) -> None:
    probe, csrf, case = desk

    @FUZZ
    @given(form=_form(("reason",)), item=st.sampled_from(["1", "2", "3", "9999"]))
    def run(form: dict[str, Any], item: str) -> None:
        _send(probe, f"/console/cases/{case}/items/{item}/reopen", _encoded(form, csrf))

    run()


def test_assignment_form(desk: tuple[Probe, str, str]) -> None:
    probe, csrf, case = desk

    @FUZZ
    @given(form=_form(("username",)))
    def run(form: dict[str, Any]) -> None:
        _send(probe, f"/console/cases/{case}/assign", _encoded(form, csrf))

    run()


def test_playground_forms(desk: tuple[Probe, str, str]) -> None:
    probe, csrf, _ = desk

    @FUZZ
    @given(bundle=st.one_of(NASTY, st.just((EXAMPLES / "approve-ct-head.json").read_text())))
    def tried(bundle: str) -> None:
        _send(probe, "/console/playground", _encoded({"bundle": bundle}, csrf))

    @FUZZ
    @given(form=_form(SCRIPT_FIELDS))
    def scripted(form: dict[str, Any]) -> None:
        _send(probe, "/console/playground/scripts", _encoded(form, csrf))
        _send(probe, "/console/playground/scripts/clear", _encoded({}, csrf))

    tried()
    scripted()


def test_raw_bodies_and_sign_out(desk: tuple[Probe, str, str]) -> None:
    probe, csrf, case = desk

    @FUZZ
    @given(body=st.binary(max_size=300))
    def run(body: bytes) -> None:
        for url in (
            "/console/playground",
            f"/console/cases/{case}/items/3/decide",
            f"/console/cases/{case}/items/2/reopen",
        ):
            _send(probe, url, body)

    run()
    _send(probe, "/console/logout", _encoded({}, csrf))
