"""The dashboard page (/console/): its counts and charts are the store's, overdue cases show in
red and open their case page, and the page carries no script or inline style."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from fhirauth.operations import dashboard as dash
from fhirauth.services import Services
from tests.conftest import NOW
from tests.desk import Desk, build
from tests.web.conftest import Console


def figure(html: str, name: str) -> int:
    found = re.search(rf'id="{name}">(\d+)<', html)
    assert found, name
    return int(found.group(1))


def outcome_row(html: str, outcome: str) -> tuple[int, int]:
    found = re.search(
        rf'<tr id="outcome-{outcome}"><td>[^<]+</td><td>(\d+)</td><td>(\d+)</td>', html
    )
    assert found, outcome
    return int(found.group(1)), int(found.group(2))


def labels(html: str) -> list[str]:
    return re.findall(r'<svg [^>]*aria-label="([^"]*)"', html)


@pytest.fixture
def made(client: FlaskClient, services: Services) -> dict[str, str]:
    return build(Desk(client, services))


def test_the_dashboards_counts_are_the_stores(
    console: Callable[..., Console], services: Services, made: dict[str, str]
) -> None:
    html = console().get("/console/").get_data(as_text=True)
    with services.sessions() as session:
        board = dash.dashboard(session, NOW)
    assert figure(html, "received-today") == board.today.total == 6
    assert figure(html, "received-week") == board.week.total == 12
    assert figure(html, "pended") == board.pended.total == 5
    assert figure(html, "overdue") == board.pended.overdue == 1
    for outcome in dash.OUTCOMES:
        assert outcome_row(html, outcome) == (
            board.today.counts[outcome],
            board.week.counts[outcome],
        )
    today, week, due, times = labels(html)
    assert "approved 1, partially approved 0, denied 1, pended 1" in today
    assert "approved 2, partially approved 1, denied 2, pended 4" in week
    assert due == (
        "Pended requests by due time: overdue 1, due within 24 h 2, due within 72 h 1, due later 1"
    )
    assert "standard, 5 decided: median 0.0 h, 90th percentile 23.0 h" in times
    assert "expedited, 1 decided: median 10.0 h, 90th percentile 10.0 h" in times


def test_overdue_cases_are_red_and_each_case_opens_its_page(
    console: Callable[..., Console], services: Services, made: dict[str, str]
) -> None:
    html = console().get("/console/dashboard").get_data(as_text=True)
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<td><a href=\"([^\"]+)\">([^<]+)</a>", html)
    assert [ref for _, _, ref in rows] == [
        made["late"],
        made["appealed"],
        made["soon"],
        made["early"],
        made["knee"],
    ]
    assert [bool(red) for red, _, _ in rows] == [True, False, False, False, False]
    with services.sessions() as session:
        soonest = dash.pended(session, NOW).soonest
    assert [url for _, url, _ in rows] == [f"/console/cases/{c['id']}" for c in soonest]
    assert "overdue by 3.0 h" in html  # the expedited request received 75 hours ago
    assert '<rect class="bar overdue"' in html
    assert 'href="/console/queue"' in html


def test_an_empty_store_says_there_is_nothing_yet(console: Callable[..., Console]) -> None:
    html = console().get("/console/").get_data(as_text=True)
    assert figure(html, "received-week") == 0 and figure(html, "overdue") == 0
    assert html.count("No request was received in this period.") >= 2
    assert "No request is waiting for a reviewer." in html
    assert "No request was determined in the last 30 days." in html


def test_the_page_is_markup_only_under_the_consoles_policy(
    console: Callable[..., Console], made: dict[str, str]
) -> None:
    resp = console("admin").get("/console/")
    html = resp.get_data(as_text=True)
    assert (
        resp.status_code == 200 and "default-src 'none'" in resp.headers["Content-Security-Policy"]
    )
    assert "<script" not in html and "style=" not in html
    assert html.count('role="img"') == 4


def test_not_signed_in_goes_to_the_sign_in_page(client: FlaskClient) -> None:
    for url in ("/console/", "/console/dashboard"):
        resp = client.get(url)
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/login")
