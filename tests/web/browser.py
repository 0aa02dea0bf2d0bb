"""Headless Chromium for the console's browser tests: the app served on
loopback, a driver, and screenshots saved under build/screenshots/ (or FHIRAUTH_SCREENSHOTS).

Chromium and ChromeDriver come from the OS packages (``chromium``, ``chromium-driver``);
``.ci/run`` installs them. Without them these tests skip, saying so.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait
from werkzeug.serving import make_server

from tests.conftest import ROOT

# A test run saves its screenshots out of the source tree (build/ is ignored); the README's
# pictures are renewed on purpose: FHIRAUTH_SCREENSHOTS=docs/screenshots.
SCREENSHOTS = ROOT / os.environ.get("FHIRAUTH_SCREENSHOTS", "build/screenshots")


def _found() -> tuple[str, str] | None:
    chromium = os.environ.get("FHIRAUTH_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("FHIRAUTH_CHROMEDRIVER") or shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def serve(app: Flask) -> Iterator[str]:
    """``app`` on a loopback port for the length of the block: its root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium driven by ChromeDriver; skips the test when they are missing."""
    found = _found()
    if found is None:
        pytest.skip(
            "needs Chromium and ChromeDriver from the OS packages (apt-get install chromium "
            "chromium-driver); .ci/run installs them"
        )
    binary, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page as NAME.png under SCREENSHOTS (the window grown to the page's height)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 20, 4000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path


def csp_violations(driver: WebDriver) -> list[str]:
    """What the browser refused under the Content-Security-Policy so far."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if "Content Security Policy" in e.get("message", "")
    ]


def follow(driver: WebDriver, element: WebElement) -> None:
    """Click a link or submit button and wait until the page it leads to has replaced this one.

    A click returns once the browser has dispatched it, not once the next page is loaded, so
    a check made straight after it can still read the old page (CI saw the login page's URL
    after signing in). While the documents change, ChromeDriver may answer the staleness probe
    with "Node with given id does not belong to the document" instead of a stale element: the
    wait asks again.
    """
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(staleness_of(page))


def sign_in_as(driver: WebDriver, root: str, username: str, password: str) -> None:
    driver.get(f"{root}/console/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    follow(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))


__all__ = [
    "SCREENSHOTS",
    "chromium",
    "csp_violations",
    "follow",
    "screenshot",
    "serve",
    "sign_in_as",
]
