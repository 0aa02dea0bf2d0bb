"""The review queue page (/console/queue): pended requests soonest due first with the clock that
remains, overdue rows marked, filters as a plain GET form, rows opening the case page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from tests.cases import KNEE, MIXED, MRI, RIVERBEND_NPI, assign, load, pend
from tests.conftest import NOW
from tests.web.conftest import Console


def shown(html: str) -> list[str]:
    """The case ids of the rows, in order."""
    return re.findall(r'<tr id="case-([0-9a-f]+)"', html)


def row(html: str, auth: str) -> str:
    found = re.search(rf'<tr id="case-{auth}"[^>]*>.*?</tr>', html, re.S)
    assert found, auth
    return found.group(0)


def test_the_queue_shows_pended_requests_soonest_due_first_with_the_clock_left(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    standard = pend(client, services, MIXED)
    expedited = pend(client, services, MRI)
    page = console().get("/console/queue")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert shown(html) == [expedited, standard]
    first = row(html, expedited)
    assert f'href="/console/cases/{expedited}"' in first
    assert "3 d left" in first and "expedited" in first and "70553" in first
    assert "North Shore Neurology Associates" in first
    assert "7 d left" in row(html, standard) and "Riverbend Multispecialty Clinic" in html
    assert 'class="overdue"' not in html
    # No patient detail anywhere in the queue, and so in no link it makes.
    assert "Whitaker" not in html and "Marchetti" not in html


def test_an_overdue_row_is_marked_and_says_by_how_much(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    late = pend(client, services, MRI)
    on_time = pend(client, services, MIXED)
    services.clock = fixed_clock(NOW + timedelta(hours=75))
    html = console().get("/console/queue").get_data(as_text=True)
    assert row(html, late).startswith(f'<tr id="case-{late}" class="overdue">')
    assert "overdue by 3 h" in row(html, late)
    assert 'class="overdue"' not in row(html, on_time)


def test_each_filter_narrows_the_rows_and_keeps_its_choice(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    mixed = pend(client, services, MIXED)
    mri = pend(client, services, MRI)
    knee = pend(client, services, KNEE)
    assign(services, knee, "rita")
    desk = console()

    def rows(query: str) -> list[str]:
        return sorted(shown(desk.get(f"/console/queue?{query}").get_data(as_text=True)))

    assert rows("") == sorted([mixed, mri, knee])
    assert rows("expedited=1") == [mri]
    assert rows("service=http://www.ama-assn.org/go/cpt|70551") == [mixed]
    assert rows(f"provider=http://hl7.org/fhir/sid/us-npi|{RIVERBEND_NPI}") == [mixed]
    assert rows("reviewer=rita") == [knee]
    assert rows("reviewer=-") == sorted([mixed, mri])
    assert rows("expedited=1&reviewer=rita") == []
    html = desk.get("/console/queue?reviewer=rita&service=").get_data(as_text=True)
    assert '<option value="rita" selected>rita</option>' in html
    # The selects offer what the queue holds.
    assert '<option value="http://www.ama-assn.org/go/cpt|27447">27447</option>' in html
    assert f"Riverbend Multispecialty Clinic ({RIVERBEND_NPI})" in html
    assert "1 of 3 pended requests shown" in html


def test_a_filter_that_makes_no_sense_shows_the_whole_queue_and_says_so(
    console: Callable[..., Console], client: FlaskClient, services: Services
) -> None:
    auth = pend(client, services, MRI)
    html = console().get("/console/queue?service=" + "9" * 400).get_data(as_text=True)
    assert shown(html) == [auth] and "was not understood" in html


def test_an_empty_queue_says_so(console: Callable[..., Console], client: FlaskClient) -> None:
    request = load("approve-ct-head.json")
    assert client.post("/fhir/Claim/$submit", json=request).status_code == 200
    html = console().get("/console/queue").get_data(as_text=True)
    assert "No request is waiting for a reviewer." in html and shown(html) == []


def test_the_queue_needs_a_signed_in_staff_user(client: FlaskClient) -> None:
    resp = client.get("/console/queue")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/login")
