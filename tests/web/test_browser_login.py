"""In a real browser: a wrong password is refused, the right one signs in, a form whose CSRF
token was tampered with changes nothing, and no page breaks its Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from fhirauth.services import Services
from tests.web.browser import csp_violations, follow, screenshot, serve, sign_in_as
from tests.web.conftest import PASSWORD, add_staff


@pytest.fixture
def root(app: Flask) -> Iterator[str]:
    yield from serve(app)


def test_wrong_password_then_sign_in_then_a_forged_form(
    browser: WebDriver, root: str, services: Services
) -> None:
    add_staff(services, "rita", "reviewer")
    sign_in_as(browser, root, "rita", "not my password")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "Wrong username or password" in alert.text
    screenshot(browser, "login-refused")

    sign_in_as(browser, root, "rita", PASSWORD)
    assert browser.current_url == f"{root}/console/"
    assert "rita · reviewer" in browser.find_element(By.CSS_SELECTOR, ".who").text

    # The sign-out form with a forged token: refused, and still signed in.
    browser.execute_script("document.querySelector('.who input[name=csrf]').value = 'forged'")
    follow(browser, browser.find_element(By.CSS_SELECTOR, ".who button"))
    assert "Not allowed" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get(f"{root}/console/")
    assert "rita · reviewer" in browser.find_element(By.CSS_SELECTOR, ".who").text

    follow(browser, browser.find_element(By.CSS_SELECTOR, ".who button"))
    assert browser.current_url == f"{root}/console/login"
    assert csp_violations(browser) == []
