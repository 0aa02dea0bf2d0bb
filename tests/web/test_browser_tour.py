"""In a real browser, in sandbox mode: an administrator searches the policies by code, tries a
bundle whose patient is named ``<script>alert(1)</script>`` in the playground (it shows as
text and runs nothing), and opens the staff list; a reviewer is refused the staff list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from fhirauth import create_app
from fhirauth.clock import fixed_clock
from fhirauth.config import Settings
from fhirauth.services import Services
from tests.conftest import EXAMPLES, NOW
from tests.web.browser import csp_violations, follow, screenshot, serve, sign_in_as
from tests.web.conftest import PASSWORD, add_staff


@pytest.fixture
def sandboxed(settings: Settings) -> Iterator[tuple[str, Services]]:
    services = Services.build(replace(settings, sandbox=True), clock=fixed_clock(NOW))
    app = create_app(services=services)
    app.config["TESTING"] = False
    for root in serve(app):
        yield root, services
    services.engine.dispose()


def test_policies_playground_and_staff_pages(
    browser: WebDriver, sandboxed: tuple[str, Services]
) -> None:
    root, services = sandboxed
    add_staff(services, "ada", "admin")
    add_staff(services, "rita", "reviewer")
    sign_in_as(browser, root, "ada", PASSWORD)
    assert browser.current_url == f"{root}/console/"

    follow(browser, browser.find_element(By.LINK_TEXT, "Policies"))
    browser.find_element(By.NAME, "code").send_keys("70552")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.search button"))
    verdict = browser.find_element(By.CSS_SELECTOR, ".finding .verdict").text
    assert verdict.startswith("70552 needs authorization: rule mri-brain")
    screenshot(browser, "policies")

    bundle = json.loads((EXAMPLES / "approve-ct-head.json").read_text())
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient["name"] = [{"family": "<script>alert(1)</script>", "given": ["Eve"]}]
    follow(browser, browser.find_element(By.LINK_TEXT, "Playground"))
    area = browser.find_element(By.NAME, "bundle")
    # Typing 2,000 lines key by key is slow; the field's value is set as a paste would set it.
    browser.execute_script("arguments[0].value = arguments[1]", area, json.dumps(bundle, indent=1))
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.tryout button"))
    summary = browser.find_element(By.CSS_SELECTOR, "pre.summary").text
    assert "item 1: A1" in summary
    assert "<script>alert(1)</script>" in browser.find_element(By.NAME, "bundle").text
    assert browser.find_elements(By.XPATH, "//script") == []
    screenshot(browser, "playground")

    follow(browser, browser.find_element(By.LINK_TEXT, "Staff"))
    assert "rita" in browser.find_element(By.TAG_NAME, "table").text
    screenshot(browser, "staff")
    assert csp_violations(browser) == []

    follow(browser, browser.find_element(By.CSS_SELECTOR, ".who button"))
    assert browser.current_url == f"{root}/console/login"
    sign_in_as(browser, root, "rita", PASSWORD)
    assert browser.current_url == f"{root}/console/"
    assert browser.find_elements(By.LINK_TEXT, "Staff") == []
    browser.get(f"{root}/console/staff")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not allowed"
