"""The ``console`` fixture: a test client signed in to the console as a new staff user."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.test import TestResponse

from fhirauth.auth import staff
from fhirauth.services import Services
from tests.web.browser import chromium

PASSWORD = "correct horse battery"
NAMES = {"reviewer": "rita", "admin": "ada"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def form_csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has a form with its CSRF token"
    return found.group(1)


@dataclass
class Console:
    client: FlaskClient
    username: str
    csrf: str

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
        """A form post with the session's CSRF token."""
        return self.client.post(url, data={"csrf": self.csrf, **(data or {})}, **kw)


def add_staff(services: Services, username: str, role: str, password: str = PASSWORD) -> None:
    with services.sessions.begin() as session:
        staff.add(session, username, role, password, services.clock())


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    csrf = form_csrf(client.get("/console/login").get_data(as_text=True))
    return client.post(
        "/console/login", data={"csrf": csrf, "username": username, "password": password}
    )


@pytest.fixture
def console(app: Flask, services: Services) -> Callable[..., Console]:
    """``console(role="reviewer", username=None)``: a new account of that role, signed in."""

    def make(role: str = "reviewer", username: str | None = None) -> Console:
        name = username or NAMES[role]
        add_staff(services, name, role)
        client = app.test_client()
        answer = sign_in(client, name)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        csrf = form_csrf(client.get("/console/").get_data(as_text=True))
        return Console(client, name, csrf)

    return make


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium (tests.web.browser); the test skips without it."""
    with chromium() as driver:
        yield driver
