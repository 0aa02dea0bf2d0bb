"""In a real browser: a reviewer finds a pended request in the queue (overdue in red), opens its
case, decides it, and the provider's ClaimResponse and notification carry the decision; an HTML
attachment opens without running its script; nothing breaks the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from fhirauth.clock import fixed_clock
from fhirauth.services import Services
from fhirauth.store.models import OutboxEvent
from tests.api.test_attachments import attachment, member_of, post_attachment, tracking_of
from tests.cases import (
    MIXED,
    MRI,
    RIVERBEND_NPI,
    ask_for_imaging,
    auth_id,
    imaging_report,
    load,
    submit,
)
from tests.conftest import NOW
from tests.notifications.helpers import subscription
from tests.pas import review_actions
from tests.web.browser import csp_violations, follow, screenshot, serve, sign_in_as
from tests.web.conftest import PASSWORD, add_staff

RED = ("rgb(180, 35, 24)", "rgba(180, 35, 24, 1)")  # console.css --bad


@pytest.fixture
def root(app: Flask) -> Iterator[str]:
    yield from serve(app)


def test_a_reviewer_decides_a_case_from_the_queue_in_a_browser(
    browser: WebDriver, root: str, client: FlaskClient, services: Services
) -> None:
    made = client.post(
        "/fhir/Subscription",
        json=subscription(
            "https://ehr.example.org/pas/notify", filters=(f"org-identifier={RIVERBEND_NPI}",)
        ),
    )
    assert made.status_code == 201
    answer = submit(client, MIXED)
    mixed = auth_id(services, answer)
    request = load(MRI)
    late = submit(client, request)
    late_id = auth_id(services, late)
    asked = ask_for_imaging(client, late_id)
    html = imaging_report(b"<h1>MRI report</h1><script>document.title = 'script ran'</script>")
    sent = post_attachment(client, attachment(tracking_of(asked), member_of(request), html))
    assert sent.status_code == 200
    services.clock = fixed_clock(NOW + timedelta(hours=75))
    add_staff(services, "rita", "reviewer")
    sign_in_as(browser, root, "rita", PASSWORD)

    follow(browser, browser.find_element(By.LINK_TEXT, "Queue"))
    overdue = browser.find_element(By.CSS_SELECTOR, f"tr#case-{late_id}.overdue td")
    assert overdue.value_of_css_property("color") in RED
    assert "overdue by 3 h" in browser.find_element(By.ID, f"case-{late_id}").text
    assert "3 d 21 h left" in browser.find_element(By.ID, f"case-{mixed}").text
    screenshot(browser, "queue")

    follow(browser, browser.find_element(By.CSS_SELECTOR, f"tr#case-{late_id} a"))
    link = browser.find_element(By.LINK_TEXT, "Diagnostic imaging study")
    browser.get(str(link.get_attribute("href")))  # the page opens it in a new tab
    assert browser.find_element(By.TAG_NAME, "h1").text == "MRI report"
    assert browser.title != "script ran"  # the sandbox kept the attachment's script off

    browser.get(f"{root}/console/queue")
    follow(browser, browser.find_element(By.CSS_SELECTOR, f"tr#case-{mixed} a"))
    assert browser.current_url == f"{root}/console/cases/{mixed}"
    assert "Jonah Elias Whitaker" in browser.find_element(By.ID, "patient").text
    screenshot(browser, "case")
    form = browser.find_element(By.CSS_SELECTOR, "#decide-3 form")
    form.find_element(By.NAME, "period_days").send_keys("30")
    follow(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "Item 3 approved" in browser.find_element(By.ID, "notice").text
    assert browser.find_elements(By.CSS_SELECTOR, "#decide-3") == []
    assert csp_violations(browser) == []

    cr_id = answer["entry"][0]["resource"]["id"]
    cr = client.get(f"/fhir/ClaimResponse/{cr_id}").get_json()
    assert review_actions({"entry": [{"resource": cr}]})[3] == "A1"
    with services.sessions() as session:
        (event,) = session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.authorization_id == mixed, OutboxEvent.kind == "event-notification"
            )
        ).all()
    assert event.payload is not None
    assert review_actions(orjson.loads(event.payload))[3] == "A1"


def test_an_admin_reopens_a_decided_item_in_a_browser(
    browser: WebDriver, root: str, client: FlaskClient, services: Services
) -> None:
    answer = submit(client, MIXED)
    mixed = auth_id(services, answer)
    add_staff(services, "ada", "admin")
    sign_in_as(browser, root, "ada", PASSWORD)
    browser.get(f"{root}/console/cases/{mixed}")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#decide-3 button[type=submit]"))
    assert "Item 3 approved" in browser.find_element(By.ID, "notice").text

    reopen = browser.find_element(By.ID, "reopen-3")
    reopen.find_element(By.TAG_NAME, "summary").click()  # opens the form in place
    reason = reopen.find_element(By.NAME, "reason")
    assert reason.is_displayed()
    reason.send_keys("Peer-to-peer review asked for by the medical director")
    screenshot(browser, "case-reopen")
    follow(browser, reopen.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "Item 3 reopened: pended (A4) again" in browser.find_element(By.ID, "notice").text
    assert browser.find_element(By.ID, "decide-3").is_displayed()
    assert browser.find_elements(By.ID, "reopen-3") == []
    assert csp_violations(browser) == []
    cr_id = answer["entry"][0]["resource"]["id"]
    cr = client.get(f"/fhir/ClaimResponse/{cr_id}").get_json()
    assert cr["meta"]["versionId"] == "3"
    assert review_actions({"entry": [{"resource": cr}]})[3] == "A4"
