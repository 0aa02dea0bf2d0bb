"""In a real browser: the dashboard draws its charts with the stylesheet's colours (overdue in
red) and the metrics page offers its CSV; neither breaks the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from fhirauth.services import Services
from tests.desk import Desk, build
from tests.web.browser import csp_violations, follow, screenshot, serve, sign_in_as
from tests.web.conftest import PASSWORD, add_staff

RED = ("rgb(180, 35, 24)", "rgba(180, 35, 24, 1)")  # console.css --bad, as a browser says it


@pytest.fixture
def root(app: Flask) -> Iterator[str]:
    yield from serve(app)


def test_the_dashboard_and_metrics_pages_in_a_browser(
    browser: WebDriver, root: str, client: FlaskClient, services: Services
) -> None:
    made = build(Desk(client, services))
    add_staff(services, "rita", "reviewer")
    sign_in_as(browser, root, "rita", PASSWORD)
    assert browser.current_url == f"{root}/console/"
    assert browser.find_element(By.ID, "overdue").text == "1"
    bar = browser.find_element(By.CSS_SELECTOR, "svg.chart rect.bar.overdue")
    assert bar.value_of_css_property("fill") in RED
    late = browser.find_element(By.CSS_SELECTOR, "table.soonest tr.overdue td")
    assert late.text == made["late"] and late.value_of_css_property("color") in RED
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart[role=img]")) == 4
    screenshot(browser, "dashboard")

    follow(browser, browser.find_element(By.LINK_TEXT, "Metrics"))
    assert "Prior authorization metrics, 2026" in browser.find_element(By.TAG_NAME, "h2").text
    link = browser.find_element(By.LINK_TEXT, "Download the metrics as CSV")
    assert link.get_attribute("href") == f"{root}/console/metrics.csv?year=2026"
    screenshot(browser, "metrics")
    assert csp_violations(browser) == []
