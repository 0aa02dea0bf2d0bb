"""The console's story in a real browser, against a server on loopback: an EHR subscribes and
submits a request that pends; a reviewer made with ``fhirauth users add`` signs in, finds it in
the queue, opens its case and approves it; the EHR's rest-hook receiver gets the notification
and ``$inquire`` gives the same decision, recorded under the reviewer. The pages are saved as
screenshots under build/screenshots/."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from fhirauth.cli import main
from fhirauth.notifications.settings import NotificationSettings
from fhirauth.notifications.worker import start_worker_thread
from fhirauth.services import Services
from fhirauth.store.models import DecisionEvent
from tests.inquiries import inquiry_of
from tests.notifications.helpers import FHIR_JSON, WAIT, Receiver, pend_mri, subscribed
from tests.pas import review_actions
from tests.web.browser import csp_violations, follow, screenshot, serve, sign_in_as

pytest_plugins = ("tests.notifications.fixtures",)

PASSWORD = "reviewing all day"


@pytest.fixture
def root(napp: Flask) -> Iterator[str]:
    yield from serve(napp)


def test_a_reviewer_signs_in_finds_the_case_decides_it_and_the_ehr_is_notified(
    browser: WebDriver,
    root: str,
    nclient: FlaskClient,
    nservices: Services,
    receiver: Receiver,
    notify: NotificationSettings,
    runner: CliRunner,
) -> None:
    worker = start_worker_thread(nservices, settings=notify)
    try:
        subscribed(nclient, receiver, "org-identifier=NSNEURO")
        pended = pend_mri(nclient, nservices)
        request, items, auth_id = pended.request, pended.actions, pended.authorization_id

        added = runner.invoke(
            main,
            ["users", "add", "rita", "--role", "reviewer", "--password-stdin",
             "--database-url", nservices.settings.db_url],
            input=f"{PASSWORD}\n",
        )  # fmt: skip
        assert added.exit_code == 0, added.output

        sign_in_as(browser, root, "rita", "a wrong password")
        assert "Wrong username or password" in browser.find_element(By.CSS_SELECTOR, ".error").text
        sign_in_as(browser, root, "rita", PASSWORD)
        assert browser.current_url == f"{root}/console/"
        screenshot(browser, "story-dashboard")

        follow(browser, browser.find_element(By.LINK_TEXT, "Queue"))
        row = browser.find_element(By.ID, f"case-{auth_id}")
        assert pended.answer["entry"][0]["resource"]["preAuthRef"] in row.text
        screenshot(browser, "story-queue")
        follow(browser, row.find_element(By.TAG_NAME, "a"))
        assert browser.current_url == f"{root}/console/cases/{auth_id}"
        screenshot(browser, "story-case")

        for sequence in sorted(items):
            form = browser.find_element(By.ID, f"decide-{sequence}")
            follow(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))  # Approve
            assert f"done=approve&item={sequence}" in browser.current_url
        assert browser.find_elements(By.CSS_SELECTOR, ".decide") == []  # nothing left pended
        screenshot(browser, "case-decided")

        receiver.wait_for(lambda arr: len(arr) == 1 + len(items), WAIT)
    finally:
        worker.stop(WAIT)

    pushed = receiver.arrivals[-1].json["entry"][1]["resource"]
    assert set(review_actions(pushed).values()) == {"A1"}
    answer = nclient.post(
        "/fhir/Claim/$inquire", data=json.dumps(inquiry_of(request)), content_type=FHIR_JSON
    )
    [found] = [p["resource"] for p in answer.get_json()["parameter"] if p["name"] == "return"]
    assert review_actions(found) == review_actions(pushed)
    with nservices.sessions() as session:
        deciders = session.scalars(
            select(DecisionEvent.actor).where(
                DecisionEvent.authorization_id == auth_id, DecisionEvent.actor.like("reviewer:%")
            )
        ).all()
    assert set(deciders) == {"reviewer:staff:rita"}
    assert csp_violations(browser) == []
